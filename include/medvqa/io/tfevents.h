// TensorBoard's event file format at the byte level, without protobuf or TensorFlow: CRC32C and
// its mask, the TFRecord framing, and the two Event messages we write (the file-version header and
// one scalar), hand-encoded; plus the reading back of a file's complete records (a file cut by a
// kill ends at its last whole record). Not which files a run keeps (tensorboard_logger.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace medvqa::tfevents {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) continued from `crc`.
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);
// TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t masked_crc32c(const void* data, size_t size);

// Protobuf wire encoding, appended to `out`.
void put_varint(std::string& out, uint64_t value);
void put_key(std::string& out, uint32_t field, uint32_t wire_type);  // wire types 0 varint, 1 fixed64, 2 bytes, 5 fixed32
void put_fixed64(std::string& out, uint64_t value);                  // little-endian
void put_fixed32(std::string& out, uint32_t value);
void put_bytes(std::string& out, uint32_t field, const std::string& bytes);  // key + length + bytes

// One TFRecord: uint64 LE length, masked CRC of the length, the data, masked CRC of the data.
std::string frame_record(const std::string& data);

// Event{wall_time=1, file_version=3 "brain.Event:2"}: the first record of every event file.
std::string file_version_event(double wall_time);
// Event{wall_time=1, step=2, summary=5 {value=1 {tag=1, simple_value=2}}}.
std::string scalar_event(double wall_time, int64_t step, const std::string& tag, float value);

struct EventInfo {
  int64_t step = 0;
  bool has_summary = false;  // false for the file-version header and other bookkeeping events
};
// The step and kind of an encoded Event; false when the bytes are not a well-formed message.
bool parse_event(const std::string& data, EventInfo& info);

// The data of every complete record of `bytes`, in order, up to the first one that is cut short
// or fails its CRCs (what a killed writer leaves at the end).
std::vector<std::string> read_records(const std::string& bytes);

}  // namespace medvqa::tfevents
