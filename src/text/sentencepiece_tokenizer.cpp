#include "medvqa/text/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include "medvqa/core/error.h"

namespace medvqa {

namespace {

// SentencePiece's word-boundary marker U+2581, which decodes to a space.
constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";

std::string replace_space_markers(std::string_view piece) {
  std::string out;
  for (size_t pos = 0;;) {
    const size_t found = piece.find(kSpaceMarker, pos);
    out.append(piece.substr(pos, found - pos));
    if (found == std::string_view::npos) return out;
    out += ' ';
    pos = found + kSpaceMarker.size();
  }
}

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& path, const std::string& serialized)
    : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()), path_(path) {
  const auto status = sp_->LoadFromSerializedProto(serialized);
  MEDVQA_CHECK(status.ok(), path, ": not a valid SentencePiece model: ", status.ToString());
  // HF's LlamaTokenizer parses the control pieces (<s>, </s>) and <unk> written in text.
  std::vector<Special> specials;
  for (int id = 0; id < sp_->GetPieceSize(); ++id)
    if (sp_->IsControl(id) || sp_->IsUnknown(id)) specials.push_back({sp_->IdToPiece(id), id});
  set_specials(std::move(specials));
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

void SentencePieceTokenizer::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<int> ids;
  const auto status = sp_->Encode(text, &ids);
  MEDVQA_CHECK(status.ok(), path_, ": sentencepiece encode failed: ", status.ToString());
  out.insert(out.end(), ids.begin(), ids.end());
}

std::string SentencePieceTokenizer::decode(const std::vector<int32_t>& ids) const {
  for (const int32_t id : ids) check_id(id);
  std::string text;
  const auto status = sp_->Decode(std::vector<int>(ids.begin(), ids.end()), &text);
  MEDVQA_CHECK(status.ok(), path_, ": sentencepiece decode failed: ", status.ToString());
  return text;
}

std::string SentencePieceTokenizer::piece_bytes(int32_t id, bool first) const {
  check_id(id);
  if (sp_->IsControl(id)) return "";
  const std::string& piece = sp_->IdToPiece(id);
  // Byte-fallback pieces are spelled "<0xAB>".
  if (sp_->IsByte(id)) return std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
  // libsentencepiece knows whether this model drops the leading space of a text (add_dummy_prefix)
  // and what <unk> decodes to; a piece decoded alone opens a text.
  if (first || sp_->IsUnknown(id)) return sp_->DecodeIds({id});
  return replace_space_markers(piece);
}

int32_t SentencePieceTokenizer::vocab_size() const { return sp_->GetPieceSize(); }

std::optional<int32_t> SentencePieceTokenizer::bos_id() const {
  return sp_->bos_id() >= 0 ? std::optional<int32_t>(sp_->bos_id()) : std::nullopt;
}

std::optional<int32_t> SentencePieceTokenizer::eos_id() const {
  return sp_->eos_id() >= 0 ? std::optional<int32_t>(sp_->eos_id()) : std::nullopt;
}

}  // namespace medvqa
