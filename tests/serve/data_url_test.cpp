#include "medvqa/serve/data_url.h"

#include <gtest/gtest.h>

#include <functional>

#include "medvqa/serve/api_error.h"

using namespace medvqa::serve;

namespace {

// The status and message of the ApiError that f throws.
std::pair<int, std::string> api_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return {e.status(), e.what()};
  }
  return {0, ""};
}

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

TEST(DecodeBase64, DecodesWithAndWithoutPadding) {
  EXPECT_EQ(decode_base64(""), bytes(""));
  EXPECT_EQ(decode_base64("TWFu"), bytes("Man"));
  EXPECT_EQ(decode_base64("TWE="), bytes("Ma"));
  EXPECT_EQ(decode_base64("TWE"), bytes("Ma"));
  EXPECT_EQ(decode_base64("TQ=="), bytes("M"));
  EXPECT_EQ(decode_base64("TQ"), bytes("M"));
  EXPECT_EQ(decode_base64("+/+/"), (std::vector<uint8_t>{0xfb, 0xff, 0xbf}));
}

TEST(DecodeBase64, RejectsOtherCharactersAndImpossibleLengths) {
  for (const char* bad : {"T", "TQ===", "TW=u", "TW u", "TWFu\n", "TW-_", "=", "TQ=", "TWFuT"})
    EXPECT_EQ(decode_base64(bad), std::nullopt) << bad;
}

TEST(ParseDataUrl, ReadsTheMediaTypeAndBytes) {
  DataUrl url = parse_data_url("data:image/PNG;base64,TWFu", "p", 100);
  EXPECT_EQ(url.media_type, "image/png");
  EXPECT_EQ(url.bytes, bytes("Man"));
  url = parse_data_url("DATA:application/dicom;name=x.dcm;base64,TQ==", "p", 100);
  EXPECT_EQ(url.media_type, "application/dicom");
}

TEST(ParseDataUrl, EveryProblemNamesTheField) {
  const std::string p = "messages[0].content[1].image_url.url";
  EXPECT_EQ(api_error([&] { parse_data_url("https://example.com/x.png", p, 100); }),
            std::make_pair(400, p + ": expected a data URL (data:image/png;base64,...); the server fetches no remote "
                                    "URLs and reads no files"));
  EXPECT_EQ(api_error([&] { parse_data_url("/etc/passwd", p, 100); }).first, 400);
  EXPECT_EQ(api_error([&] { parse_data_url("data:image/png;base64", p, 100); }),
            std::make_pair(400, p + ": data URL without a ',' before its payload"));
  EXPECT_EQ(api_error([&] { parse_data_url("data:image/png,abc", p, 100); }),
            std::make_pair(400, p + ": the data URL must be base64 (data:<type>;base64,...)"));
  EXPECT_EQ(api_error([&] { parse_data_url("data:text/plain;base64,TWFu", p, 100); }),
            std::make_pair(400, p + ": unsupported media type \"text/plain\" (expected image/png, image/jpeg, "
                                    "image/bmp, image/tiff or application/dicom)"));
  EXPECT_EQ(api_error([&] { parse_data_url("data:image/png;base64,TW!u", p, 100); }),
            std::make_pair(400, p + ": the data URL's payload is not valid base64"));
  EXPECT_EQ(api_error([&] { parse_data_url("data:image/png;base64,", p, 100); }),
            std::make_pair(400, p + ": the data URL holds no bytes"));
  EXPECT_EQ(api_error([&] { parse_data_url("data:image/png;base64,TWFuTWFu", p, 5); }),
            std::make_pair(413, p + ": the image is larger than the server's limit of 5 bytes"));
}

}  // namespace
