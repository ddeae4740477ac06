// json_reader: files, JSON lines and typed keys, each error with its exact message.
#include "medvqa/io/json_reader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/test_util.h"

namespace fs = std::filesystem;
using namespace medvqa;
using test_util::error_message;

namespace {

std::string put(const std::string& name, const std::string& text) {
  const fs::path path = test_util::temp_dir("json_reader") / name;
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

// The objects of a JSONL file as "LINE: dump", and the bad lines' messages.
struct Lines {
  std::vector<std::string> seen, bad;
};
Lines read_lines(const std::string& path) {
  Lines out;
  for_each_json_line(
      path, [&](const JsonObject& o, size_t line) { out.seen.push_back(std::to_string(line) + ": " + o.value().dump()); },
      [&](const Error& e) { out.bad.push_back(e.what()); });
  return out;
}

}  // namespace

TEST(ReadJsonFile, ReadsADocument) {
  const JsonValue v = read_json_file(put("ok.json", R"({"b": 1, "a": [true]})"));
  EXPECT_EQ(v.dump(), R"({"b":1,"a":[true]})");  // file order kept
}

TEST(ReadJsonFile, NamesAMissingFileAndAFolder) {
  const std::string missing = (test_util::temp_dir("json_reader") / "absent.json").string();
  EXPECT_EQ(error_message([&] { read_json_file(missing); }), missing + ": cannot open: no such file");
  const std::string folder = test_util::temp_dir("json_reader").string();
  EXPECT_EQ(error_message([&] { read_json_file(folder); }), folder + ": cannot open: a folder, not a file");
}

TEST(ReadJsonFile, NamesLineAndColumnOfInvalidJson) {
  const std::string path = put("bad.json", "{\n  \"a\": 1,\n  \"b\": }\n");
  EXPECT_EQ(error_message([&] { read_json_file(path); }),
            path + ": invalid JSON at line 3, column 8: syntax error while parsing value - unexpected '}'; "
                   "expected '[', '{', or a literal");
  EXPECT_EQ(error_message([&] { parse_json("", "empty.json"); }),
            "empty.json: invalid JSON at column 1: syntax error while parsing value - unexpected end of input; "
            "expected '[', '{', or a literal");
}

TEST(ReadJsonFile, QuotesIllFormedUtf8AsHex) {
  EXPECT_EQ(error_message([] { parse_json("\"a\xff\"", "x.json"); }),
            "x.json: invalid JSON at column 3: syntax error while parsing value - invalid string: ill-formed UTF-8 "
            "byte; last read: '\"a\\xff'");
}

TEST(ForEachJsonLine, VisitsObjectsWithLineNumbersAndSkipsBlankLines) {
  const Lines lines = read_lines(put("ok.jsonl", "{\"a\": 1}\n\n  \t\r\n{\"b\": 2}\r\n"));
  EXPECT_EQ(lines.seen, (std::vector<std::string>{R"(1: {"a":1})", R"(4: {"b":2})"}));
  EXPECT_TRUE(lines.bad.empty());
}

TEST(ForEachJsonLine, ReportsEveryBadLineByNumberAndCarriesOn) {
  const std::string path = put("bad.jsonl", "{\"a\": 1}\n[1, 2]\n{\"a\": \n{\"a\": 4}\n");
  Lines lines = read_lines(path);
  EXPECT_EQ(lines.seen, (std::vector<std::string>{R"(1: {"a":1})", R"(4: {"a":4})"}));
  EXPECT_EQ(lines.bad, (std::vector<std::string>{
                           path + ":2: expected a JSON object, found an array",
                           path + ":3: invalid JSON at column 7: syntax error while parsing value - unexpected end "
                                  "of input; expected '[', '{', or a literal"}));

  // A visit's own Error is a bad line too.
  lines = {};
  for_each_json_line(
      path, [](const JsonObject& o, size_t) { o.string("a"); }, [&](const Error& e) { lines.bad.push_back(e.what()); });
  ASSERT_EQ(lines.bad.size(), 4u);
  EXPECT_EQ(lines.bad[0], path + ":1: key \"a\": expected a string, found a number (1)");
}

TEST(ForEachJsonLine, WithoutOnBadTheFirstBadLineThrows) {
  const std::string path = put("first.jsonl", "{}\nnull\n{\n");
  EXPECT_EQ(error_message([&] { for_each_json_line(path, [](const JsonObject&, size_t) {}); }),
            path + ":2: expected a JSON object, found null");
  const std::string missing = (test_util::temp_dir("json_reader") / "absent.jsonl").string();
  EXPECT_EQ(error_message([&] { for_each_json_line(missing, [](const JsonObject&, size_t) {}, [](const Error&) {}); }),
            missing + ": cannot open: no such file");
}

TEST(JsonObject, ReadsEveryTypeAndOptionalKeys) {
  const JsonValue v = parse_json(R"({"s": "x", "id": 17, "n": 3, "f": 0.5, "b": false, "l": ["p", "q"],
                                     "o": {"k": "v"}, "nothing": null})", "t.json");
  const JsonObject o(v, "t.json");
  EXPECT_EQ(o.string("s"), "x");
  EXPECT_EQ(o.id("id"), "17");
  EXPECT_EQ(o.id("s"), "x");
  EXPECT_EQ(o.positive_int("n"), 3);
  EXPECT_EQ(o.positive_number("f"), 0.5);
  EXPECT_EQ(o.positive_number("n"), 3.0);
  EXPECT_EQ(o.count("n"), 3);
  EXPECT_EQ(o.non_negative_number("f"), 0.5);
  EXPECT_EQ(o.boolean("b"), false);
  EXPECT_EQ(o.strings("l"), (std::vector<std::string>{"p", "q"}));
  EXPECT_EQ(o.object("o")->string("k"), "v");
  for (const char* key : {"absent", "nothing"}) {
    EXPECT_EQ(o.string(key, Presence::kOptional), std::nullopt) << key;
    EXPECT_EQ(o.positive_int(key, Presence::kOptional), std::nullopt) << key;
    EXPECT_EQ(o.strings(key, Presence::kOptional), std::nullopt) << key;
    EXPECT_FALSE(o.object(key, Presence::kOptional)) << key;
    EXPECT_FALSE(o.has(key)) << key;
  }
  EXPECT_TRUE(o.has("b"));
}

TEST(JsonObject, NamesWhereKeyExpectedAndFound) {
  const JsonValue v = parse_json(R"({"question": 5, "nothing": null, "n": -2, "r": 2.5, "f": 0, "b": "yes",
      "l": ["a", 3], "ls": "a", "id": true, "o": [], "long": "0123456789012345678901234567890123456789abc",
      "nested": {"deeper": {"k": {}}}})", "data.jsonl:12");
  const JsonObject o(v, "data.jsonl:12");
  auto error = [](const std::function<void()>& f) { return error_message(f); };
  EXPECT_EQ(error([&] { o.string("question"); }), "data.jsonl:12: key \"question\": expected a string, found a number (5)");
  EXPECT_EQ(error([&] { o.string("absent"); }), "data.jsonl:12: key \"absent\": missing");
  EXPECT_EQ(error([&] { o.string("nothing"); }), "data.jsonl:12: key \"nothing\": expected a string, found null");
  EXPECT_EQ(error([&] { o.string("question", Presence::kOptional); }),
            "data.jsonl:12: key \"question\": expected a string, found a number (5)");
  EXPECT_EQ(error([&] { o.positive_int("n"); }), "data.jsonl:12: key \"n\": expected a positive integer, found a number (-2)");
  EXPECT_EQ(error([&] { o.positive_int("r"); }), "data.jsonl:12: key \"r\": expected a positive integer, found a number (2.5)");
  EXPECT_EQ(error([&] { o.positive_number("f"); }), "data.jsonl:12: key \"f\": expected a positive number, found a number (0)");
  EXPECT_EQ(o.count("f"), 0);
  EXPECT_EQ(o.non_negative_number("f"), 0.0);
  EXPECT_EQ(error([&] { o.count("n"); }), "data.jsonl:12: key \"n\": expected an integer >= 0, found a number (-2)");
  EXPECT_EQ(error([&] { o.count("r"); }), "data.jsonl:12: key \"r\": expected an integer >= 0, found a number (2.5)");
  EXPECT_EQ(error([&] { o.non_negative_number("n"); }), "data.jsonl:12: key \"n\": expected a number >= 0, found a number (-2)");
  EXPECT_EQ(error([&] { o.boolean("b"); }), "data.jsonl:12: key \"b\": expected true or false, found a string (\"yes\")");
  EXPECT_EQ(error([&] { o.strings("l"); }), "data.jsonl:12: key \"l[1]\": expected a string, found a number (3)");
  EXPECT_EQ(error([&] { o.strings("ls"); }), "data.jsonl:12: key \"ls\": expected a list of strings, found a string (\"a\")");
  EXPECT_EQ(error([&] { o.id("id"); }), "data.jsonl:12: key \"id\": expected a string or an integer, found a boolean (true)");
  EXPECT_EQ(error([&] { o.object("o"); }), "data.jsonl:12: key \"o\": expected an object, found an array");
  EXPECT_EQ(error([&] { o.positive_int("long"); }),
            "data.jsonl:12: key \"long\": expected a positive integer, found a string "
            "(\"012345678901234567890123456789012345678...)");
  EXPECT_EQ(error([&] { o.object("nested")->object("deeper")->string("k"); }),
            "data.jsonl:12: key \"nested.deeper.k\": expected a string, found an object");
  EXPECT_EQ(error([&] { o.fail("answer", "\"c\" is not one of the options"); }),
            "data.jsonl:12: key \"answer\": \"c\" is not one of the options");
  EXPECT_EQ(error([] { JsonValue a = JsonValue::array(); JsonObject(a, "x.json"); }),
            "x.json: expected a JSON object, found an array");
}

TEST(JsonObject, GivenProblemsItReportsEveryOneAndCarriesOn) {
  const JsonValue v = parse_json(R"({"n": "8", "scaling": {"factor": -1}})", "config.json");
  Problems problems;
  const JsonObject o(v, "config.json", &problems);
  EXPECT_EQ(o.positive_int("hidden_size"), std::nullopt);
  EXPECT_EQ(o.positive_int("n"), std::nullopt);
  EXPECT_EQ(o.object("scaling")->positive_number("factor"), std::nullopt);
  o.fail("heads do not divide the width");
  EXPECT_EQ(problems.items(), (std::vector<std::string>{
                                  "config.json: key \"hidden_size\": missing",
                                  "config.json: key \"n\": expected a positive integer, found a string (\"8\")",
                                  "config.json: key \"scaling.factor\": expected a positive number, found a number (-1)",
                                  "config.json: heads do not divide the width"}));
}
