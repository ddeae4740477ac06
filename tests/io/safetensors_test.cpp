#include "medvqa/io/safetensors.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <unistd.h>

#include "medvqa/core/error.h"
#include "medvqa/io/tensor_store.h"
#include "medvqa/io/unpickler.h"
#include "common/test_util.h"

namespace fs = std::filesystem;
using namespace medvqa;

namespace {

fs::path temp_dir() { return test_util::temp_dir("io_test"); }
using test_util::error_message;

}  // namespace

TEST(Safetensors, RoundTripKeepsBitsDtypesAndMetadata) {
  std::string path = (temp_dir() / "rt.safetensors").string();
  at::Tensor a = at::randn({3, 4}), b = at::randn({5}).to(at::kBFloat16), c = at::arange(6, at::kLong).view({2, 3}).t();
  write_safetensors(path, {{"a", a}, {"b", b}, {"c", c}}, {{"k", "v"}});
  SafetensorsFile f(path);
  EXPECT_EQ(f.header().metadata.at("k"), "v");
  EXPECT_EQ(f.header().data_start % 8, 0u);
  EXPECT_TRUE(at::equal(f.tensor("a"), a));
  EXPECT_TRUE(at::equal(f.tensor("b"), b));
  EXPECT_TRUE(at::equal(f.tensor("c"), c.contiguous()));
  EXPECT_NE(error_message([&] { f.tensor("zz"); }).find("no tensor named 'zz'"), std::string::npos);
}

TEST(Safetensors, TensorsViewTheMappingCopyOnWrite) {
  std::string path = (temp_dir() / "cow.safetensors").string();
  write_safetensors(path, {{"w", at::zeros({4})}});
  {
    SafetensorsFile f(path);
    at::Tensor t = f.tensor("w");
    t.fill_(7);  // a private mapping: the file must not change
  }
  EXPECT_TRUE(at::equal(SafetensorsFile(path).tensor("w"), at::zeros({4})));
}

TEST(Safetensors, FailedWriteLeavesNoFile) {
  fs::path dir = temp_dir();
  std::string path = (dir / "dup.safetensors").string();
  EXPECT_NE(error_message([&] { write_safetensors(path, {{"x", at::ones({1})}, {"x", at::ones({1})}}); }).find("given twice"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(path));
  for (const auto& e : fs::directory_iterator(dir)) EXPECT_EQ(e.path().string().find("dup.safetensors.tmp"), std::string::npos);
}

TEST(Safetensors, HeaderValidation) {
  auto parse = [](std::string header, size_t data) {
    std::string file(8, '\0');
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) file[i] = static_cast<char>(n >> (8 * i));
    file += header + std::string(data, '\0');
    return error_message([&] { parse_safetensors_header(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "f"); });
  };
  EXPECT_EQ(parse(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8), "");
  EXPECT_NE(parse(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 9).find("trailing bytes"), std::string::npos);
  EXPECT_NE(parse(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12).find("gap"), std::string::npos);
  EXPECT_NE(parse(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0).find("negative"), std::string::npos);
  EXPECT_NE(parse(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,0]}})", 0)
                .find("overflows"),
            std::string::npos);
  EXPECT_NE(parse(R"({"__metadata__":{"a":1}})", 0).find("must be a string"), std::string::npos);
  EXPECT_NE(parse(R"([1,2])", 0).find("JSON object"), std::string::npos);
}

TEST(Unpickler, RefusesGlobalsOutsideTheAllowList) {
  // protocol 2: GLOBAL 'os system', then STOP.
  std::string pkl = "\x80\x02" "cos\nsystem\n.";
  std::string err = error_message([&] { unpickle(reinterpret_cast<const uint8_t*>(pkl.data()), pkl.size(), "evil.pkl"); });
  EXPECT_NE(err.find("refusing global 'os.system'"), std::string::npos) << err;
}

TEST(Unpickler, DeepNestingIsAnErrorNotACrash) {
  std::string pkl = "\x80\x02";
  for (int i = 0; i < 100000; ++i) pkl += "]";
  for (int i = 0; i < 99999; ++i) pkl += "a";
  pkl += ".";
  std::string err = error_message([&] { unpickle(reinterpret_cast<const uint8_t*>(pkl.data()), pkl.size(), "deep.pkl"); });
  EXPECT_NE(err.find("nested too deeply"), std::string::npos) << err;
}

TEST(TensorStore, DirectoryWithSeveralUnindexedSafetensorsIsAmbiguous) {
  fs::path dir = temp_dir() / "ambiguous";
  fs::create_directories(dir);
  write_safetensors((dir / "a.safetensors").string(), {{"x", at::ones({1})}});
  write_safetensors((dir / "b.safetensors").string(), {{"y", at::ones({1})}});
  EXPECT_NE(error_message([&] { TensorStore::open(dir.string()); }).find("no model.safetensors.index.json"), std::string::npos);
}
