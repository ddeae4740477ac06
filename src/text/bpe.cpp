#include "medvqa/text/bpe.h"

#include <algorithm>
#include <functional>
#include <limits>

#include "medvqa/core/error.h"

namespace medvqa {

namespace {

size_t hash_bytes(std::string_view bytes) { return std::hash<std::string_view>{}(bytes); }

constexpr int32_t kNoRank = std::numeric_limits<int32_t>::max();

}  // namespace

BytePairEncoder::BytePairEncoder(std::vector<std::string> tokens, const std::string& source) {
  offsets_.reserve(tokens.size() + 1);
  offsets_.push_back(0);
  for (const auto& t : tokens) {
    MEDVQA_CHECK(!t.empty(), source, ": token ", offsets_.size() - 1, " is empty");
    arena_ += t;
    offsets_.push_back(static_cast<uint32_t>(arena_.size()));
  }
  // A load factor under 1/2 keeps linear probing short.
  size_t capacity = 16;
  while (capacity < 2 * tokens.size()) capacity *= 2;
  slots_.assign(capacity, -1);
  slot_mask_ = capacity - 1;
  for (int32_t id = 0; id < size(); ++id) {
    std::string_view bytes = bytes_of(id);
    size_t slot = hash_bytes(bytes) & slot_mask_;
    while (slots_[slot] >= 0) {
      MEDVQA_CHECK(bytes_of(slots_[slot]) != bytes, source, ": tokens ", slots_[slot], " and ", id,
                   " have the same bytes; every BPE token must be distinct");
      slot = (slot + 1) & slot_mask_;
    }
    slots_[slot] = id;
  }
  for (int b = 0; b < 256; ++b) {
    const char byte = static_cast<char>(b);
    MEDVQA_CHECK(rank_of(std::string_view(&byte, 1)) >= 0, source, ": the single byte 0x", std::hex, b,
                 " is not a token; a byte-level BPE needs all 256");
  }
}

int32_t BytePairEncoder::rank_of(std::string_view bytes) const {
  for (size_t slot = hash_bytes(bytes) & slot_mask_;; slot = (slot + 1) & slot_mask_) {
    const int32_t id = slots_[slot];
    if (id < 0) return -1;
    if (bytes_of(id) == bytes) return id;
  }
}

void BytePairEncoder::encode(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  const int32_t whole = rank_of(piece);
  if (whole >= 0) {
    out.push_back(whole);
    return;
  }
  // tiktoken's merge order (lowest rank first, leftmost among equal ranks) over a linked list of
  // parts and a min-heap of candidate pairs, so a long piece (a 20,000-character word) costs
  // O(n log n) instead of tiktoken's O(n^2) rescans. Stale heap entries are skipped when popped.
  struct Part {
    uint32_t start;
    int32_t rank;  // rank of this part merged with the next one, kNoRank if not a token
    int32_t next;  // -1 after the last part
    int32_t prev;
  };
  struct Candidate {
    int32_t rank;
    int32_t part;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : part > o.part; }
  };
  thread_local std::vector<Part> parts;
  thread_local std::vector<Candidate> heap;
  parts.clear();
  heap.clear();
  const auto n = static_cast<int32_t>(piece.size());
  for (int32_t i = 0; i < n; ++i) parts.push_back({static_cast<uint32_t>(i), kNoRank, i + 1 < n ? i + 1 : -1, i - 1});
  auto end_of = [&](int32_t i) { return parts[i].next < 0 ? piece.size() : parts[parts[i].next].start; };
  // Sets the rank of part i joined with its successor and queues it.
  auto update = [&](int32_t i) {
    const int32_t next = parts[i].next;
    if (next < 0) return;
    const int32_t r = rank_of(piece.substr(parts[i].start, end_of(next) - parts[i].start));
    parts[i].rank = r < 0 ? kNoRank : r;
    if (r >= 0) {
      heap.push_back({r, i});
      std::push_heap(heap.begin(), heap.end(), std::greater<>());
    }
  };
  for (int32_t i = 0; i < n; ++i) update(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const Candidate c = heap.back();
    heap.pop_back();
    Part& part = parts[c.part];
    if (part.rank != c.rank || part.next < 0) continue;  // merged away or re-ranked since queued
    const int32_t absorbed = part.next;
    part.next = parts[absorbed].next;
    if (part.next >= 0) parts[part.next].prev = c.part;
    parts[absorbed].rank = kNoRank;
    parts[absorbed].next = -1;
    update(c.part);
    if (part.prev >= 0) update(part.prev);
  }
  for (int32_t i = 0; i >= 0; i = parts[i].next)
    out.push_back(rank_of(piece.substr(parts[i].start, end_of(i) - parts[i].start)));
}

}  // namespace medvqa
