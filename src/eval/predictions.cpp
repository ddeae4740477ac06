#include "medvqa/eval/predictions.h"

#include <utf8proc.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string_view>

#include "medvqa/core/error.h"

namespace medvqa {
namespace {

using nlohmann::json;

// Where a problem is: "FILE:LINE".
struct Where {
  const std::string& path;
  size_t line;
};

std::ostream& operator<<(std::ostream& os, const Where& w) { return os << w.path << ":" << w.line; }

const json& field(const json& item, const char* name, const Where& where) {
  auto it = item.find(name);
  MEDVQA_CHECK(it != item.end(), where, ": missing field \"", name, "\"");
  return *it;
}

std::string string_field(const json& item, const char* name, const Where& where) {
  const json& value = field(item, name, where);
  MEDVQA_CHECK(value.is_string(), where, ": field \"", name, "\" must be a string, got ", value.type_name());
  return value.get<std::string>();
}

std::string id_field(const json& item, const char* name, const Where& where) {
  const json& value = field(item, name, where);
  if (value.is_number_integer()) return value.dump();
  MEDVQA_CHECK(value.is_string(), where, ": field \"", name, "\" must be a string or an integer, got ",
               value.type_name());
  return value.get<std::string>();
}

std::vector<std::string> options_field(const json& item, const char* name, const Where& where) {
  const json& value = field(item, name, where);
  MEDVQA_CHECK(value.is_array(), where, ": field \"", name, "\" must be a list of strings, got ",
               value.type_name());
  std::vector<std::string> options;
  for (const json& option : value) {
    MEDVQA_CHECK(option.is_string(), where, ": field \"", name, "\" must be a list of strings, item ",
                 options.size(), " is ", option.type_name());
    options.push_back(option.get<std::string>());
  }
  return options;
}

std::string parse_message(const json::parse_error& e) {
  // Drop nlohmann's "[json.exception.parse_error.101] " tag; keep the column and the reason. The
  // reason quotes the bytes last read, which may be the ill-formed UTF-8 at fault: write those
  // as \xNN so the message itself stays printable UTF-8.
  std::string what = e.what();
  size_t tag_end = what.find("] ");
  std::string_view reason(what);
  if (tag_end != std::string::npos) reason.remove_prefix(tag_end + 2);
  std::string out;
  while (!reason.empty()) {
    utf8proc_int32_t c;
    auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(reason.data()),
                              static_cast<utf8proc_ssize_t>(reason.size()), &c);
    if (n > 0) {
      out.append(reason.substr(0, static_cast<size_t>(n)));
      reason.remove_prefix(static_cast<size_t>(n));
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned char>(reason[0]));
      out += hex;
      reason.remove_prefix(1);
    }
  }
  return out;
}

}  // namespace

std::vector<Prediction> read_predictions(const std::string& path) {
  std::ifstream in(path);
  MEDVQA_CHECK(in, "cannot open predictions file ", path);
  std::vector<Prediction> predictions;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const Where where{path, number};
    json item;
    try {
      item = json::parse(line);
    } catch (const json::parse_error& e) {
      MEDVQA_FAIL(where, ": invalid JSON: ", parse_message(e));
    }
    MEDVQA_CHECK(item.is_object(), where, ": expected a JSON object, got ", item.type_name());
    Prediction p;
    p.question_id = id_field(item, "question_id", where);
    p.dataset = string_field(item, "dataset", where);
    p.modality_type = string_field(item, "modality_type", where);
    p.question_type = string_field(item, "question_type", where);
    p.question = string_field(item, "question", where);
    p.gt_answer = string_field(item, "gt_answer", where);
    p.options = options_field(item, "options", where);
    p.prediction = string_field(item, "prediction", where);
    predictions.push_back(std::move(p));
  }
  MEDVQA_CHECK(!predictions.empty(), path, ": no predictions (the file is empty)");
  return predictions;
}

}  // namespace medvqa
