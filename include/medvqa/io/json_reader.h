// Reading JSON input: a whole file, the lines of a JSONL file, and typed reads of one object's keys,
// every error naming the file (and line) and the key: `data.jsonl:12: key "question": expected a
// string, found a number (5)`. What the values mean (ranges beyond "positive", cross-checks,
// defaults) stays with the caller; writing JSON is not this file's business.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "medvqa/core/error.h"

namespace medvqa {

// Keys keep their file order, so a line echoed back (`ask --input`) reads as it was written.
using JsonValue = nlohmann::ordered_json;

// `text` as JSON; `where` names it: "WHERE: invalid JSON at line L, column C: <reason>".
JsonValue parse_json(const std::string& text, const std::string& where);
// The JSON document in `path`: "PATH: cannot open: ..." or the parse error as above.
JsonValue read_json_file(const std::string& path);

class JsonObject;
// Every non-blank line of a JSON-lines file, in order: visit(object named "PATH:LINE", LINE).
// A line that is invalid JSON or not an object, or whose visit throws Error, goes to `on_bad` and
// the loop carries on; without on_bad that Error ends the read. A file that cannot be opened throws.
void for_each_json_line(const std::string& path, const std::function<void(const JsonObject&, size_t line)>& visit,
                        const std::function<void(const Error&)>& on_bad = nullptr);

// Whether a getter's key may be absent; an absent key and a null one read alike.
enum class Presence { kRequired, kOptional };

// One JSON object and where it came from. Getters return nullopt for an optional absent key; a
// missing required key or a wrong type is an error. Errors throw, or, given `problems`, are added
// there and the getter returns nullopt, so a config reports every problem at once.
class JsonObject {
 public:
  // `value` must outlive this view; `where`: "FILE", "FILE:LINE", "FILE item N".
  JsonObject(const JsonValue& value, std::string where, Problems* problems = nullptr);
  JsonObject(const JsonValue&& value, std::string where, Problems* problems = nullptr) = delete;

  std::optional<std::string> string(const std::string& key, Presence presence = Presence::kRequired) const;
  // A string, or an integer written in decimal (item ids: other systems number their items).
  std::optional<std::string> id(const std::string& key, Presence presence = Presence::kRequired) const;
  std::optional<int64_t> positive_int(const std::string& key, Presence presence = Presence::kRequired) const;
  std::optional<double> positive_number(const std::string& key, Presence presence = Presence::kRequired) const;
  // An integer >= 0 (steps, positions), a number >= 0 (rates).
  std::optional<int64_t> count(const std::string& key, Presence presence = Presence::kRequired) const;
  std::optional<double> non_negative_number(const std::string& key, Presence presence = Presence::kRequired) const;
  std::optional<bool> boolean(const std::string& key, Presence presence = Presence::kRequired) const;
  std::optional<std::vector<std::string>> strings(const std::string& key, Presence presence = Presence::kRequired) const;
  // A nested object; its keys are named by their path ("rope_scaling.factor") in errors.
  std::optional<JsonObject> object(const std::string& key, Presence presence = Presence::kRequired) const;

  bool has(const std::string& key) const { return find(key) != nullptr; }
  const JsonValue* find(const std::string& key) const;  // nullptr when absent or null
  // Reports `WHERE: key "PATH.KEY": <problem>` (throws, or adds to the problems).
  void fail(const std::string& key, const std::string& problem) const;
  // `WHERE: <problem>` for problems of the object as a whole (throws, or adds to the problems).
  void fail(const std::string& problem) const;
  const std::string& where() const { return where_; }
  const JsonValue& value() const { return *value_; }

 private:
  JsonObject(const JsonValue& value, std::string where, std::string prefix, Problems* problems);
  // The key's value, or nullptr when absent or null (a missing required key is reported).
  const JsonValue* lookup(const std::string& key, Presence presence) const;
  void wrong(const std::string& key, const char* expected, const JsonValue& found) const;
  // The key's value as T when `accepts` it; else reported as not being `expected`.
  template <typename T>
  std::optional<T> typed(const std::string& key, Presence presence, const char* expected,
                         bool (*accepts)(const JsonValue&)) const;

  const JsonValue* value_;
  std::string where_;
  std::string prefix_;  // "" or the path of this object inside the document, with a trailing dot
  Problems* problems_;
};

}  // namespace medvqa
