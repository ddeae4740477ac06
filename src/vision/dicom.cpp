#include "medvqa/vision/dicom.h"

#include <gdcmPixmap.h>
#include <gdcmPixmapReader.h>
#include <gdcmReader.h>
#include <gdcmTrace.h>
#include <gdcmUIDs.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <sstream>

#include "medvqa/core/error.h"

namespace medvqa::vision {
namespace {

const gdcm::Tag kPixelData(0x7fe0, 0x0010);

// A string element, trailing padding removed ("" when absent or empty).
std::string text_of(const gdcm::DataSet& ds, const gdcm::Tag& tag) {
  if (!ds.FindDataElement(tag)) return "";
  const gdcm::ByteValue* bv = ds.GetDataElement(tag).GetByteValue();
  if (!bv) return "";
  std::string s(bv->GetPointer(), bv->GetLength());
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

// The first value of a decimal string (DS) such as "40\400"; pydicom also uses the first.
std::optional<double> first_number(const gdcm::DataSet& ds, const gdcm::Tag& tag) {
  const std::string s = text_of(ds, tag);
  const std::string first = s.substr(0, s.find('\\'));
  if (first.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(first.c_str(), &end);
  if (end == first.c_str()) return std::nullopt;
  return v;
}

std::string transfer_syntax(const gdcm::File& file) {
  const std::string uid = text_of(file.GetHeader(), gdcm::Tag(0x0002, 0x0010));
  if (uid.empty()) return "implicit VR little endian (no file meta transfer syntax)";
  gdcm::UIDs known;
  const char* name = known.SetFromUID(uid.c_str()) ? known.GetName() : nullptr;
  return name ? std::string(name) + " (" + uid + ")" : uid;
}

// A failed PixmapReader does not say why; a plain parse tells a broken file from a missing image.
[[noreturn]] void explain_failure(const std::string& bytes, const std::string& path) {
  std::istringstream in(bytes);
  gdcm::Reader reader;
  reader.SetStream(in);
  MEDVQA_CHECK(reader.Read(), "cannot read DICOM file ", path, ": not valid DICOM or truncated");
  MEDVQA_CHECK(reader.GetFile().GetDataSet().FindDataElement(kPixelData), "DICOM file ", path,
               " has no pixel data (7FE0,0010): it is not an image (SOP class ",
               text_of(reader.GetFile().GetDataSet(), gdcm::Tag(0x0008, 0x0016)), ")");
  MEDVQA_FAIL("cannot read the image of DICOM file ", path, " (transfer syntax ", transfer_syntax(reader.GetFile()),
              "): GDCM rejected its pixel description");
}

// Stored values as signed or unsigned integers of BitsStored bits inside BitsAllocated.
// halves_swapped: GDCM byte-swaps big-endian pixel data as 16-bit words (OW), so a 32-bit sample
// arrives with its two halves exchanged; pydicom reads them as the 32-bit values they are.
std::vector<double> stored_values(const std::vector<char>& buf, size_t n, const gdcm::PixelFormat& pf,
                                  bool halves_swapped) {
  const int allocated = pf.GetBitsAllocated(), stored = pf.GetBitsStored();
  const bool is_signed = pf.GetPixelRepresentation() == 1;
  const int bytes = allocated / 8;
  const uint64_t mask = stored >= 64 ? ~uint64_t(0) : (uint64_t(1) << stored) - 1;
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) {
    uint64_t raw = 0;
    std::memcpy(&raw, buf.data() + i * bytes, bytes);  // GDCM hands out native little-endian samples
    if (halves_swapped) raw = (raw >> 16) | ((raw & 0xffff) << 16);
    raw &= mask;
    if (is_signed && stored < 64 && (raw >> (stored - 1)) & 1) {
      out[i] = double(int64_t(raw) - int64_t(uint64_t(1) << stored));
    } else {
      out[i] = double(raw);
    }
  }
  return out;
}

}  // namespace

bool has_dicom_magic(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 132 && std::memcmp(bytes.data() + 128, "DICM", 4) == 0;
}

namespace {

// GDCM reports some damage (pixel data shorter than declared, which it pads) only as a warning on
// its global trace stream; we capture that stream, so GDCM calls are serialised.
std::mutex gdcm_mutex;

class CaptureGdcmWarnings {
 public:
  CaptureGdcmWarnings() {
    gdcm::Trace::SetWarningStream(text_);
    gdcm::Trace::SetWarning(true);
    gdcm::Trace::SetError(false);
  }
  ~CaptureGdcmWarnings() {
    static std::ostringstream discard;
    gdcm::Trace::SetWarning(false);
    gdcm::Trace::SetWarningStream(discard);
  }
  std::string text() const { return text_.str(); }

 private:
  std::ostringstream text_;
};

struct Decoded {
  int width = 0;
  int height = 0;
  bool monochrome1 = false;
  std::vector<double> values;  // modality values of the first frame
  std::optional<Window> file_window;
};

Decoded decode(const std::string& bytes, const std::string& path) {
  std::lock_guard<std::mutex> lock(gdcm_mutex);
  CaptureGdcmWarnings warnings;
  // PixmapReader, not ImageReader: the latter also derives spacing and origin, which we do not use
  // and where Debian's GDCM aborts on an assertion for some RT Dose files.
  std::istringstream in(bytes);
  gdcm::PixmapReader reader;
  reader.SetStream(in);
  if (!reader.Read()) explain_failure(bytes, path);
  MEDVQA_CHECK(warnings.text().find("Incomplete Pixel Data") == std::string::npos, "DICOM file ", path,
               " is truncated: its pixel data is shorter than declared");
  const gdcm::Pixmap& image = reader.GetPixmap();
  const gdcm::DataSet& ds = reader.GetFile().GetDataSet();
  const gdcm::PhotometricInterpretation pi = image.GetPhotometricInterpretation();
  Decoded d;
  d.monochrome1 = pi == gdcm::PhotometricInterpretation::MONOCHROME1;
  MEDVQA_CHECK(image.GetPixelFormat().GetSamplesPerPixel() == 1 &&
                   (d.monochrome1 || pi == gdcm::PhotometricInterpretation::MONOCHROME2),
               "DICOM file ", path, " is a colour image (PhotometricInterpretation ", pi, ", SamplesPerPixel ",
               image.GetPixelFormat().GetSamplesPerPixel(), "): medvqa reads grayscale (MONOCHROME1/2) DICOM only");
  d.width = int(image.GetDimension(0));
  d.height = int(image.GetDimension(1));
  MEDVQA_CHECK(d.width > 0 && d.height > 0, "DICOM file ", path, " has zero size (", d.width, "x", d.height, ")");
  const size_t n = size_t(d.width) * d.height;  // the first frame only
  const int allocated = image.GetPixelFormat().GetBitsAllocated();
  MEDVQA_CHECK(allocated == 8 || allocated == 16 || allocated == 32, "DICOM file ", path, ": unsupported BitsAllocated ",
               allocated, " (medvqa reads 8, 16 and 32)");
  std::vector<char> buf(image.GetBufferLength());
  MEDVQA_CHECK(image.GetBuffer(buf.data()), "cannot decode the pixel data of DICOM file ", path,
               ": transfer syntax ", transfer_syntax(reader.GetFile()), " is not supported by GDCM here");
  const bool big_endian = reader.GetFile().GetHeader().GetDataSetTransferSyntax() == gdcm::TransferSyntax::ExplicitVRBigEndian;
  d.values = stored_values(buf, n, image.GetPixelFormat(), big_endian && allocated == 32);  // read after decoding: codecs may correct it

  // Modality LUT (PS3.3 C.11.1), applied as pydicom does: only when both tags are present.
  const auto slope = first_number(ds, gdcm::Tag(0x0028, 0x1053));
  const auto intercept = first_number(ds, gdcm::Tag(0x0028, 0x1052));
  if (slope && intercept)
    for (double& v : d.values) v = v * *slope + *intercept;
  const auto center = first_number(ds, gdcm::Tag(0x0028, 0x1050));
  const auto width = first_number(ds, gdcm::Tag(0x0028, 0x1051));
  if (center && width && *width >= 1) d.file_window = Window{*center, *width};
  return d;
}

}  // namespace

Image read_dicom(const std::vector<uint8_t>& bytes, const std::string& path, const Window* window) {
  const Decoded d = decode(std::string(bytes.begin(), bytes.end()), path);
  Image out(d.width, d.height, Mode::kL);
  out.pixels = window_to_8bit(d.values, window ? window : d.file_window ? &*d.file_window : nullptr);
  if (d.monochrome1)
    for (uint8_t& v : out.pixels) v = uint8_t(255 - v);
  return out;
}

}  // namespace medvqa::vision
