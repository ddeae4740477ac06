#include "medvqa/io/json_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace medvqa {
namespace {

namespace fs = std::filesystem;

constexpr size_t kShownChars = 40;  // a wrong string value is quoted up to this many bytes

std::ifstream open(const std::string& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  MEDVQA_CHECK(fs::exists(status), path, ": cannot open: no such file");
  MEDVQA_CHECK(!fs::is_directory(status), path, ": cannot open: a folder, not a file");
  std::ifstream in(path, std::ios::binary);
  MEDVQA_CHECK(in, path, ": cannot open: ", std::strerror(errno));
  return in;
}

// Where byte `byte` (nlohmann's count of bytes read, the bad one included) lies in `text`.
std::string position(const std::string& text, size_t byte) {
  const size_t at = std::min(byte > 0 ? byte - 1 : 0, text.size());
  const size_t newline = at == 0 ? std::string::npos : text.rfind('\n', at - 1);
  const size_t column = newline == std::string::npos ? at + 1 : at - newline;
  if (text.find('\n') == std::string::npos) return "column " + std::to_string(column);
  const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n');
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

// nlohmann's message without its "[json.exception...] parse error at ...: " prefix. It quotes the
// bytes last read, which may be the ill-formed UTF-8 at fault: those (and control bytes) become
// \xNN so the message itself stays printable.
std::string reason(const JsonValue::exception& e) {
  std::string what = e.what();
  if (size_t tag = what.find("] "); tag != std::string::npos) what.erase(0, tag + 2);
  if (what.rfind("parse error", 0) == 0)
    if (size_t colon = what.find(": "); colon != std::string::npos) what.erase(0, colon + 2);
  std::string out;
  for (unsigned char c : what) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

// "null", "an array", "a number (5)", "a string (\"abc\")": the type, and a scalar's value.
std::string describe(const JsonValue& v) {
  if (v.is_null()) return "null";
  if (v.is_object()) return "an object";
  if (v.is_array()) return "an array";
  std::string text = v.dump(-1, ' ', false, JsonValue::error_handler_t::replace);
  if (text.size() > kShownChars) {
    size_t cut = kShownChars;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 character
    text = text.substr(0, cut) + "...";
  }
  const char* kind = v.is_string() ? "a string" : v.is_boolean() ? "a boolean" : "a number";
  return std::string(kind) + " (" + text + ")";
}

}  // namespace

JsonValue parse_json(const std::string& text, const std::string& where) {
  try {
    return JsonValue::parse(text);
  } catch (const JsonValue::parse_error& e) {
    MEDVQA_FAIL(where, ": invalid JSON at ", position(text, e.byte), ": ", reason(e));
  } catch (const JsonValue::exception& e) {
    MEDVQA_FAIL(where, ": invalid JSON: ", reason(e));
  }
}

JsonValue read_json_file(const std::string& path) {
  std::ifstream in = open(path);
  std::ostringstream text;
  text << in.rdbuf();
  MEDVQA_CHECK(!in.bad(), path, ": read error");
  return parse_json(text.str(), path);
}

void for_each_json_line(const std::string& path, const std::function<void(const JsonObject&, size_t line)>& visit,
                        const std::function<void(const Error&)>& on_bad) {
  std::ifstream in = open(path);
  std::string text;
  size_t number = 0;
  while (std::getline(in, text)) {
    ++number;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(number);
    try {
      const JsonValue value = parse_json(text, where);
      visit(JsonObject(value, where), number);
    } catch (const Error& e) {
      if (!on_bad) throw;
      on_bad(e);
    }
  }
  MEDVQA_CHECK(in.eof(), path, ": read error after line ", number);
}

JsonObject::JsonObject(const JsonValue& value, std::string where, Problems* problems)
    : JsonObject(value, std::move(where), "", problems) {
  MEDVQA_CHECK(value.is_object(), where_, ": expected a JSON object, found ", describe(value));
}

JsonObject::JsonObject(const JsonValue& value, std::string where, std::string prefix, Problems* problems)
    : value_(&value), where_(std::move(where)), prefix_(std::move(prefix)), problems_(problems) {}

const JsonValue* JsonObject::find(const std::string& key) const {
  auto it = value_->find(key);
  return it == value_->end() || it->is_null() ? nullptr : &*it;
}

const JsonValue* JsonObject::lookup(const std::string& key, Presence presence) const {
  auto it = value_->find(key);
  if (it == value_->end()) {
    if (presence == Presence::kRequired) fail(key, "missing");
    return nullptr;
  }
  if (it->is_null() && presence == Presence::kOptional) return nullptr;
  return &*it;  // a required null fails the caller's type check
}

void JsonObject::fail(const std::string& problem) const {
  std::string message = where_ + ": " + problem;
  if (!problems_) throw Error(message);
  problems_->add(std::move(message));
}

void JsonObject::fail(const std::string& key, const std::string& problem) const {
  fail("key \"" + prefix_ + key + "\": " + problem);
}

void JsonObject::wrong(const std::string& key, const char* expected, const JsonValue& found) const {
  fail(key, std::string("expected ") + expected + ", found " + describe(found));
}

template <typename T>
std::optional<T> JsonObject::typed(const std::string& key, Presence presence, const char* expected,
                                   bool (*accepts)(const JsonValue&)) const {
  const JsonValue* v = lookup(key, presence);
  if (!v) return std::nullopt;
  if (accepts(*v)) return v->get<T>();
  wrong(key, expected, *v);
  return std::nullopt;
}

std::optional<std::string> JsonObject::string(const std::string& key, Presence presence) const {
  return typed<std::string>(key, presence, "a string", [](const JsonValue& v) { return v.is_string(); });
}

std::optional<std::string> JsonObject::id(const std::string& key, Presence presence) const {
  const JsonValue* v = lookup(key, presence);
  if (!v) return std::nullopt;
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number_integer()) return v->dump();
  wrong(key, "a string or an integer", *v);
  return std::nullopt;
}

std::optional<int64_t> JsonObject::positive_int(const std::string& key, Presence presence) const {
  return typed<int64_t>(key, presence, "a positive integer",
                        [](const JsonValue& v) { return v.is_number_integer() && v.get<int64_t>() > 0; });
}

std::optional<double> JsonObject::positive_number(const std::string& key, Presence presence) const {
  return typed<double>(key, presence, "a positive number",
                       [](const JsonValue& v) { return v.is_number() && v.get<double>() > 0; });
}

std::optional<int64_t> JsonObject::count(const std::string& key, Presence presence) const {
  return typed<int64_t>(key, presence, "an integer >= 0",
                        [](const JsonValue& v) { return v.is_number_integer() && v.get<int64_t>() >= 0; });
}

std::optional<double> JsonObject::non_negative_number(const std::string& key, Presence presence) const {
  return typed<double>(key, presence, "a number >= 0",
                       [](const JsonValue& v) { return v.is_number() && v.get<double>() >= 0; });
}

std::optional<bool> JsonObject::boolean(const std::string& key, Presence presence) const {
  return typed<bool>(key, presence, "true or false", [](const JsonValue& v) { return v.is_boolean(); });
}

std::optional<std::vector<std::string>> JsonObject::strings(const std::string& key, Presence presence) const {
  const JsonValue* v = lookup(key, presence);
  if (!v) return std::nullopt;
  if (!v->is_array()) {
    wrong(key, "a list of strings", *v);
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const JsonValue& item : *v) {
    if (!item.is_string()) {
      wrong(key + "[" + std::to_string(out.size()) + "]", "a string", item);
      return std::nullopt;
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::optional<JsonObject> JsonObject::object(const std::string& key, Presence presence) const {
  const JsonValue* v = lookup(key, presence);
  if (!v) return std::nullopt;
  if (v->is_object()) return JsonObject(*v, where_, prefix_ + key + ".", problems_);
  wrong(key, "an object", *v);
  return std::nullopt;
}

}  // namespace medvqa
