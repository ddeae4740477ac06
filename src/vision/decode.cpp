#include "medvqa/vision/decode.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "medvqa/core/error.h"
#include "medvqa/vision/dicom.h"

namespace medvqa::vision {
namespace {

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
uint32_t le32(const uint8_t* p) { return uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0]; }
uint16_t le16(const uint8_t* p) { return uint16_t(p[1] << 8 | p[0]); }

bool ends_with(const std::string& s, const std::string& tail) {
  if (s.size() < tail.size()) return false;
  return std::equal(tail.rbegin(), tail.rend(), s.rbegin(), [](char a, char b) { return std::tolower(a) == b; });
}

// What the file's own header says PIL would open it as; nullopt: go by OpenCV's channel count.
// OpenCV expands palettes and turns gray+alpha PNGs into BGRA, so it cannot tell us.
std::optional<Mode> header_mode(const std::vector<uint8_t>& b, const std::string& path) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (b.size() >= 26 && std::memcmp(b.data(), kPng, 8) == 0 && std::memcmp(b.data() + 12, "IHDR", 4) == 0) {
    const uint32_t w = be32(&b[16]), h = be32(&b[20]);
    MEDVQA_CHECK(w > 0 && h > 0, "image ", path, " has zero size (", w, "x", h, ")");
    switch (b[25]) {  // IHDR colour type
      case 0: return b[24] == 1 ? Mode::k1 : Mode::kL;
      case 2: return Mode::kRGB;
      case 3: return Mode::kP;
      case 4: return Mode::kLA;
      case 6: return Mode::kRGBA;
      default: return std::nullopt;
    }
  }
  if (b.size() >= 30 && b[0] == 'B' && b[1] == 'M') {
    const uint32_t header = le32(&b[14]);
    const bool core = header == 12;  // OS/2 BITMAPCOREHEADER: 16-bit sizes, 3-byte palette entries
    const int bits = le16(&b[core ? 24 : 28]);
    if (!core && b.size() >= 50) {
      const int32_t w = int32_t(le32(&b[18])), h = int32_t(le32(&b[22]));
      MEDVQA_CHECK(w != 0 && h != 0, "image ", path, " has zero size (", w, "x", h, ")");
    }
    if (bits == 32) return b.size() >= 34 && le32(&b[30]) == 0 ? std::optional<Mode>(Mode::kRGB) : std::nullopt;
    if (bits > 8) return std::nullopt;
    // PIL: an identity gray palette opens as L (1 for two colours 0 and 255), any other as P.
    uint32_t colors = core || b.size() < 50 ? 0 : le32(&b[46]);
    if (colors == 0) colors = 1u << bits;
    const size_t entry = core ? 3 : 4, at = 14 + size_t(header);
    if (colors > 256 || at + colors * entry > b.size()) return std::nullopt;
    bool gray = true;
    for (uint32_t i = 0; i < colors && gray; ++i) {
      const uint8_t v = colors == 2 ? uint8_t(i * 255) : uint8_t(i);
      const uint8_t* p = &b[at + i * entry];
      gray = p[0] == v && p[1] == v && p[2] == v;
    }
    if (!gray) return Mode::kP;
    return colors == 2 ? Mode::k1 : Mode::kL;
  }
  return std::nullopt;
}

Mode mode_of_channels(int n) {
  static const std::array<Mode, 4> kModes = {Mode::kL, Mode::kLA, Mode::kRGB, Mode::kRGBA};
  return kModes[n - 1];
}

// For each channel of `mode`, the OpenCV channel (BGR(A) order) it comes from; -1 = opaque alpha.
std::vector<int> channel_sources(Mode mode, int n) {
  const bool colour = n >= 3;
  const int red = colour ? 2 : 0, green = colour ? 1 : 0, blue = 0;
  const int alpha = n == 4 ? 3 : n == 2 ? 1 : -1;
  switch (mode) {
    case Mode::k1:
    case Mode::kL: return {red};
    case Mode::kLA: return {red, alpha};
    case Mode::kP:
    case Mode::kRGB: return {red, green, blue};
    case Mode::kRGBA: return {red, green, blue, alpha};
  }
  return {};
}

template <class T>
Image mat_to_image(const cv::Mat& mat, Mode mode, const Window* window) {
  const int n = mat.channels();
  const std::vector<int> src = channel_sources(mode, n);
  const int c = int(src.size());
  const bool has_alpha = mode == Mode::kLA || mode == Mode::kRGBA;
  const size_t pixels = size_t(mat.cols) * mat.rows;
  Image out(mat.cols, mat.rows, mode);
  if (sizeof(T) == 1 && std::all_of(src.begin(), src.end(), [](int s) { return s >= 0; })) {
    // 8-bit with every channel in the file: OpenCV's vectorised channel shuffle (BGR -> RGB, ...).
    cv::Mat dst(mat.rows, mat.cols, CV_8UC(c), out.pixels.data());
    std::vector<int> from_to;
    for (int j = 0; j < c; ++j) from_to.insert(from_to.end(), {src[j], j});
    cv::mixChannels(&mat, 1, &dst, 1, from_to.data(), size_t(c));
    return out;
  }
  std::vector<double> colour;  // 16-bit colour samples, mapped to 8-bit together
  if (sizeof(T) == 2) colour.reserve(pixels * (c - has_alpha));
  const unsigned opaque = (1u << (8 * sizeof(T))) - 1;
  for (int y = 0; y < mat.rows; ++y) {
    const T* in = mat.ptr<T>(y);
    uint8_t* o = out.row(y);
    for (int x = 0; x < mat.cols; ++x, in += n, o += c) {
      for (int j = 0; j < c; ++j) {
        const unsigned v = src[j] < 0 ? opaque : in[src[j]];
        if (sizeof(T) == 1) {
          o[j] = uint8_t(v);
        } else if (has_alpha && j == c - 1) {
          o[j] = uint8_t(v >> 8);  // alpha keeps its high byte, as PIL reads 16-bit alpha
        } else {
          colour.push_back(v);
        }
      }
    }
  }
  if (sizeof(T) == 2) {
    const std::vector<uint8_t> mapped = window_to_8bit(colour, window);
    const int cc = c - has_alpha;
    for (size_t i = 0; i < pixels; ++i)
      std::copy_n(&mapped[i * cc], cc, &out.pixels[i * c]);
  }
  return out;
}

}  // namespace

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  MEDVQA_CHECK(in, "cannot open image ", path, ": ", std::strerror(errno));
  const std::streamoff size = in.tellg();
  MEDVQA_CHECK(size >= 0, "cannot read image ", path, ": not a regular file");
  // One read of the whole file: a character iterator costs as much as inflating the PNG.
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), size);
  MEDVQA_CHECK(in.gcount() == size, "cannot read image ", path, ": ", std::strerror(errno));
  return bytes;
}

Image decode_image_bytes(const std::vector<uint8_t>& bytes, const std::string& path, const DecodeOptions& options) {
  const Window* window = options.window ? &*options.window : nullptr;
  MEDVQA_CHECK(!bytes.empty(), "image ", path, " is empty (0 bytes)");
  if (has_dicom_magic(bytes) || ends_with(path, ".dcm")) return read_dicom(bytes, path, window);
  const std::optional<Mode> mode = header_mode(bytes, path);
  cv::Mat mat;
  try {
    mat = cv::imdecode(cv::Mat(1, int(bytes.size()), CV_8UC1, const_cast<uint8_t*>(bytes.data())), cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    MEDVQA_FAIL("cannot decode image ", path, ": ", e.what());
  }
  MEDVQA_CHECK(!mat.empty(), "cannot decode image ", path,
               ": corrupt, truncated or not an image (medvqa reads PNG, JPEG, BMP, TIFF and DICOM)");
  MEDVQA_CHECK(mat.channels() >= 1 && mat.channels() <= 4, "image ", path, ": unsupported ", mat.channels(),
               " channels");
  const Mode m = mode ? *mode : mode_of_channels(mat.channels());
  if (mat.depth() == CV_8U) return mat_to_image<uint8_t>(mat, m, window);
  MEDVQA_CHECK(mat.depth() == CV_16U, "image ", path, ": unsupported sample type (OpenCV depth ", mat.depth(),
               "); medvqa reads 8- and 16-bit unsigned images");
  return mat_to_image<uint16_t>(mat, m, window);
}

Image decode_image(const std::string& path, const DecodeOptions& options) {
  return decode_image_bytes(read_file_bytes(path), path, options);
}

}  // namespace medvqa::vision
