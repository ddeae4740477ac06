// tfevents: CRC32C against published vectors, protobuf varints, TFRecord framing and the reading
// back of a file cut inside its last record.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "medvqa/io/tfevents.h"

using namespace medvqa::tfevents;

namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s.push_back(static_cast<char>(x));
  return s;
}

std::string varint(uint64_t v) {
  std::string s;
  put_varint(s, v);
  return s;
}

TEST(Crc32c, KnownVectors) {
  // "123456789" is the standard check value; the 32-byte vectors are RFC 3720's (iSCSI), B.4.
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  std::string zeros(32, '\0'), ones(32, '\xff'), up(32, '\0');
  for (int i = 0; i < 32; ++i) up[i] = static_cast<char>(i);
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  EXPECT_EQ(crc32c(up.data(), up.size()), 0x46DD794Eu);
  // Continuing from a partial CRC equals one pass.
  EXPECT_EQ(crc32c("6789", 4, crc32c("12345", 5)), 0xE3069283u);
}

TEST(Crc32c, MaskedAsTensorFlowDoes) {
  // The values of tensorboard.compat.tensorflow_stub.pywrap_tensorflow.masked_crc32c.
  EXPECT_EQ(masked_crc32c("123456789", 9), 0xC78AB0E5u);
  EXPECT_EQ(masked_crc32c("abc", 3), 0x21F1576Eu);
}

TEST(Protobuf, Varints) {
  EXPECT_EQ(varint(0), bytes({0x00}));
  EXPECT_EQ(varint(1), bytes({0x01}));
  EXPECT_EQ(varint(127), bytes({0x7f}));
  EXPECT_EQ(varint(128), bytes({0x80, 0x01}));
  EXPECT_EQ(varint(300), bytes({0xac, 0x02}));
  // int64 -1: ten bytes, as protobuf encodes negative int64 fields.
  EXPECT_EQ(varint(static_cast<uint64_t>(int64_t{-1})), bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
  std::string key;
  put_key(key, 5, 2);
  EXPECT_EQ(key, bytes({0x2a}));
}

TEST(Protobuf, ScalarEventBytes) {
  // Event{wall_time=1.5, step=300, summary{value{tag="a", simple_value=1.0}}}, encoded by hand.
  const std::string want = bytes({0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f,          // wall_time, fixed64
                                  0x10, 0xac, 0x02,                             // step, varint
                                  0x2a, 0x0a,                                   // summary, 10 bytes
                                  0x0a, 0x08,                                   //   value, 8 bytes
                                  0x0a, 0x01, 'a',                              //     tag
                                  0x15, 0x00, 0x00, 0x80, 0x3f});               //     simple_value, fixed32
  EXPECT_EQ(scalar_event(1.5, 300, "a", 1.0f), want);
  EventInfo info;
  ASSERT_TRUE(parse_event(want, info));
  EXPECT_EQ(info.step, 300);
  EXPECT_TRUE(info.has_summary);
  ASSERT_TRUE(parse_event(file_version_event(2.0), info));
  EXPECT_EQ(info.step, 0);
  EXPECT_FALSE(info.has_summary);
  EXPECT_EQ(file_version_event(0.0).substr(9), bytes({0x1a, 13}) + "brain.Event:2");
  // Cut or malformed messages are refused, never read past their end.
  EXPECT_FALSE(parse_event(want.substr(0, want.size() - 3), info));
  EXPECT_FALSE(parse_event(bytes({0x2a, 0x7f}), info));
  EXPECT_FALSE(parse_event(bytes({0x0b}), info));  // wire type 3 (groups) is not ours
}

TEST(Records, FramingIsLengthCrcDataCrc) {
  const std::string r = frame_record("abc");
  ASSERT_EQ(r.size(), 8u + 4 + 3 + 4);
  EXPECT_EQ(r.substr(0, 8), bytes({3, 0, 0, 0, 0, 0, 0, 0}));
  uint32_t len_crc, data_crc;
  std::memcpy(&len_crc, r.data() + 8, 4);
  std::memcpy(&data_crc, r.data() + 15, 4);
  EXPECT_EQ(len_crc, masked_crc32c(r.data(), 8));
  EXPECT_EQ(r.substr(12, 3), "abc");
  EXPECT_EQ(data_crc, 0x21F1576Eu);
}

TEST(Records, AFileCutInsideItsLastRecordReadsUpToTheCut) {
  const std::string first = scalar_event(1.0, 1, "train/loss", 2.5f), second = scalar_event(1.0, 2, "train/loss", 2.0f);
  const std::string file = frame_record(first) + frame_record(second);
  const size_t whole = frame_record(first).size();
  EXPECT_EQ(read_records(file), (std::vector<std::string>{first, second}));
  for (size_t cut = whole; cut < file.size(); ++cut)
    EXPECT_EQ(read_records(file.substr(0, cut)), std::vector<std::string>{first}) << "cut at byte " << cut;
  for (size_t at : {size_t{3}, size_t{9}, whole + 20, file.size() - 1}) {
    std::string bad = file;
    bad[at] ^= 0x40;
    EXPECT_EQ(read_records(bad).size(), at < whole ? 0u : 1u) << "flipped byte " << at;
  }
  // A length field claiming more than the file holds stops the reading, whatever its size.
  std::string huge = bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f});
  put_fixed32(huge, masked_crc32c(huge.data(), 8));
  EXPECT_TRUE(read_records(huge + "xxxx").empty());
}

}  // namespace
