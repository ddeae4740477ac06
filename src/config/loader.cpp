#include "medvqa/config/loader.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>
#include <type_traits>
#include <utility>

#include "medvqa/config/model_dir.h"
#include "medvqa/core/error.h"
#include "medvqa/core/log.h"

namespace medvqa {
namespace {

namespace fs = std::filesystem;
using config::Spec;

std::string describe(const YAML::Node& n) {
  if (!n || n.IsNull()) return "nothing";
  if (n.IsScalar()) return "'" + n.Scalar() + "'";
  return n.IsSequence() ? "a list" : "a map";
}

std::string range_text(const Spec& s) {
  std::ostringstream os;
  os << "[" << s.lo << ", " << s.hi << "]";
  return os.str();
}

struct ReadContext {
  fs::path base_dir;                 // folder of the config file
  std::set<std::string> overridden;  // keys set on the command line
  Problems problems;
};

// Reads one YAML map into a struct; keys the struct does not visit are reported as unknown.
class Reader {
 public:
  Reader(YAML::Node node, std::string prefix, ReadContext& ctx) : node_(node), prefix_(std::move(prefix)), ctx_(ctx) {}

  template <class T>
  void field(const char* key, T& value, const Spec& spec) {
    known_.push_back(key);
    YAML::Node n = node_[key];
    if (!n) {
      // Path defaults (e.g. train.out_dir) are relative to where the command runs.
      if constexpr (std::is_same_v<T, std::string>)
        if (spec.is_path && !value.empty() && fs::path(value).is_relative())
          value = (fs::current_path() / value).lexically_normal().string();
      return;
    }
    std::string name = prefix_ + key;
    try {
      read(name, n, value, spec);
    } catch (const YAML::Exception&) {
      ctx_.problems.add(name + ": expected " + expected(value, spec) + ", got " + describe(n));
    }
  }

  template <class S>
  void section(const char* key, S& sub) {
    known_.push_back(key);
    YAML::Node n = node_[key];
    std::string name = prefix_ + key;
    if (n && !n.IsMap() && !n.IsNull()) {
      ctx_.problems.add(name + ": expected a section (a map of keys), got " + describe(n));
      return;
    }
    Reader r(n && n.IsMap() ? n : YAML::Node(YAML::NodeType::Map), name + ".", ctx_);
    sub.visit(r);
    r.finish();
  }

  void finish() {
    for (const auto& kv : node_) {
      std::string key = kv.first.as<std::string>();
      if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
      std::string hint = config::closest(key, known_);
      ctx_.problems.add("unknown key '" + prefix_ + key + "'" + (hint.empty() ? "" : " (did you mean '" + prefix_ + hint + "'?)"));
    }
  }

 private:
  static std::string expected(bool, const Spec&) { return "true or false"; }
  static std::string expected(int64_t, const Spec& s) { return "an integer in " + range_text(s); }
  static std::string expected(double, const Spec& s) { return "a number in " + range_text(s); }
  static std::string expected(const std::string&, const Spec& s) { return s.choices.empty() ? "a string" : "one of " + join(s.choices); }
  template <class E, std::enable_if_t<std::is_enum_v<E>, int> = 0>
  static std::string expected(E, const Spec& s) { return "one of " + join(s.choices); }
  static std::string expected(const std::vector<std::string>&, const Spec& s) {
    return s.choices.empty() ? "a list of strings" : "a list of values from " + join(s.choices) + ", e.g. [" + s.choices.front() + "]";
  }
  static std::string expected(const std::vector<double>&, const Spec&) { return "a list of numbers"; }
  static std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  }

  void read(const std::string&, const YAML::Node& n, bool& v, const Spec&) { v = n.as<bool>(); }
  void read(const std::string& name, const YAML::Node& n, int64_t& v, const Spec& s) {
    int64_t x = n.as<int64_t>();
    if (x < s.lo || x > s.hi) return out_of_range(name, n, expected(x, s));
    v = x;
  }
  void read(const std::string& name, const YAML::Node& n, double& v, const Spec& s) {
    double x = n.as<double>();
    if (!std::isfinite(x) || x < s.lo || x > s.hi) return out_of_range(name, n, expected(x, s));
    v = x;
  }
  void read(const std::string& name, const YAML::Node& n, std::string& v, const Spec& s) {
    if (!n.IsNull() && !n.IsScalar()) throw YAML::Exception(YAML::Mark(), "");
    std::string x = n.IsNull() ? "" : n.Scalar();
    if (!is_choice(name, x, s)) return;
    if (s.is_path && !x.empty() && fs::path(x).is_relative()) {
      fs::path base = ctx_.overridden.count(name) ? fs::current_path() : ctx_.base_dir;
      x = (base / x).lexically_normal().string();
    }
    v = x;
  }
  template <class E, std::enable_if_t<std::is_enum_v<E>, int> = 0>
  void read(const std::string& name, const YAML::Node& n, E& v, const Spec& s) {
    std::string x = config::name_of(v);
    read(name, n, x, s);  // a name not among the choices is reported there and leaves x as it was
    const auto& names = config::EnumNames<E>::names();
    v = static_cast<E>(std::find(names.begin(), names.end(), x) - names.begin());
  }
  template <class T>
  void read(const std::string& name, const YAML::Node& n, std::vector<T>& v, const Spec& s) {
    if (n.IsNull()) return v.clear();
    if (!n.IsSequence()) throw YAML::Exception(YAML::Mark(), "");
    std::vector<T> x = n.as<std::vector<T>>();
    if constexpr (std::is_same_v<T, std::string>) {
      // A list of choices is a set: each entry one of them, none twice.
      bool ok = true;
      for (auto it = x.begin(); it != x.end(); ++it) {
        const std::string entry = name + "[" + std::to_string(it - x.begin()) + "]";
        if (!is_choice(entry, *it, s)) {
          ok = false;
        } else if (!s.choices.empty() && std::find(x.begin(), it, *it) != it) {
          ctx_.problems.add(entry + ": '" + *it + "' is listed twice");
          ok = false;
        }
      }
      if (!ok) return;
    }
    v = std::move(x);
  }
  // A value of a field with choices must be one of them; otherwise the problem names the key, the
  // choices, the value and the closest choice.
  bool is_choice(const std::string& name, const std::string& x, const Spec& s) {
    if (s.choices.empty() || std::find(s.choices.begin(), s.choices.end(), x) != s.choices.end()) return true;
    std::string hint = config::closest(x, s.choices);
    ctx_.problems.add(name + ": expected one of " + join(s.choices) + ", got '" + x + "'" +
                      (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
    return false;
  }
  void out_of_range(const std::string& name, const YAML::Node& n, const std::string& what) {
    ctx_.problems.add(name + ": expected " + what + ", got " + describe(n));
  }

  YAML::Node node_;
  std::string prefix_;
  ReadContext& ctx_;
  std::vector<std::string> known_;
};

// Doubles in their shortest round-trip form (1e-05, not 1.0000000000000001e-05).
std::string shortest(double x) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, res.ptr);
}
template <class T>
void emit(YAML::Emitter& out, const T& value) {
  if constexpr (std::is_same_v<T, double>) {
    out << shortest(value);
  } else if constexpr (std::is_enum_v<T>) {
    out << config::name_of(value);
  } else if constexpr (std::is_same_v<T, std::vector<double>> || std::is_same_v<T, std::vector<std::string>>) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const auto& x : value) emit(out, x);
    out << YAML::EndSeq;
  } else {
    out << value;
  }
}

// Writes a struct as a YAML map, in visit order.
class Writer {
 public:
  explicit Writer(YAML::Emitter& out) : out_(out) {}
  template <class T>
  void field(const char* key, const T& value, const Spec&) {
    out_ << YAML::Key << key << YAML::Value;
    emit(out_, value);
  }
  template <class S>
  void section(const char* key, S& sub) {
    out_ << YAML::Key << key << YAML::Value << YAML::BeginMap;
    sub.visit(*this);
    out_ << YAML::EndMap;
  }

 private:
  YAML::Emitter& out_;
};

// Lists every key with its default and documentation.
class Lister {
 public:
  template <class T>
  void field(const char* key, const T& value, const Spec& spec) {
    YAML::Emitter e;
    emit(e, value);
    std::string allowed;
    if (!spec.choices.empty())
      for (const auto& c : spec.choices) allowed += (allowed.empty() ? "" : ", ") + c;
    else if (std::isfinite(spec.lo))
      allowed = range_text(spec);
    rows << "| `" << prefix << key << "` | `" << e.c_str() << "` | " << allowed << " | " << spec.help << " |\n";
  }
  template <class S>
  void section(const char* key, S& sub) {
    std::string saved = prefix;
    prefix += std::string(key) + ".";
    sub.visit(*this);
    prefix = saved;
  }
  std::ostringstream rows;
  std::string prefix;
};

void apply_override(YAML::Node root, const std::string& text, ReadContext& ctx) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    ctx.problems.add("override '" + text + "': expected key=value, e.g. train.lr=1e-4");
    return;
  }
  std::string key = text.substr(0, eq), value = text.substr(eq + 1);
  YAML::Node parsed;
  try {
    parsed = YAML::Load(value);
  } catch (const YAML::Exception&) {
    parsed = YAML::Node(value);
  }
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
  // yaml-cpp nodes are handles: walking with operator[] on a copy edits the shared tree.
  std::vector<YAML::Node> chain{root};
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node next = chain.back()[parts[i]];
    if (next && !next.IsMap() && !next.IsNull()) {
      ctx.problems.add("override '" + text + "': '" + parts[i] + "' is not a section");
      return;
    }
    chain.push_back(next);
  }
  chain.back()[parts.back()] = parsed;
  ctx.overridden.insert(key);
}

// Keys that moved, read at their old place for one release with a warning: {old, new}.
constexpr std::pair<const char*, const char*> kMovedKeys[] = {{"train.dist_timeout_s", "dist.timeout_s"},
                                                              {"train.dist_bucket_mb", "dist.bucket_mb"}};

std::pair<std::string, std::string> split_key(const std::string& dotted) {
  const auto dot = dotted.find('.');
  return {dotted.substr(0, dot), dotted.substr(dot + 1)};
}

void move_deprecated_keys(YAML::Node root, const std::string& source, ReadContext& ctx) {
  for (const auto& [old_key, new_key] : kMovedKeys) {
    const auto [old_section, old_name] = split_key(old_key);
    const auto [new_section, new_name] = split_key(new_key);
    YAML::Node from = root[old_section];
    if (!from || !from.IsMap() || !from[old_name]) continue;
    YAML::Node to = root[new_section];
    if (to && to.IsMap() && to[new_name]) {
      ctx.problems.add(std::string(old_key) + ": set beside " + new_key + " (its new name); keep " + new_key);
      continue;
    }
    log_warn("config ", source, ": ", old_key, " is deprecated and will be removed in the next release; use ", new_key);
    root[new_section][new_name] = YAML::Clone(from[old_name]);
    from.remove(old_name);
  }
}

}  // namespace

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  ReadContext ctx;
  YAML::Node root(YAML::NodeType::Map);
  ctx.base_dir = fs::current_path();
  if (!path.empty()) {
    MEDVQA_CHECK(fs::is_regular_file(path), "config ", path, ": file not found");
    try {
      root = YAML::LoadFile(path);
    } catch (const YAML::Exception& e) {
      MEDVQA_FAIL("config ", path, ": invalid YAML at line ", e.mark.line + 1, ", column ", e.mark.column + 1, ": ", e.msg);
    }
    if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
    MEDVQA_CHECK(root.IsMap(), "config ", path, ": expected a map of sections (model, data, train, eval) at the top");
    ctx.base_dir = fs::absolute(path).parent_path();
  }
  for (const auto& o : overrides) apply_override(root, o, ctx);
  move_deprecated_keys(root, path.empty() ? "(defaults)" : path, ctx);
  Config config;
  Reader reader(root, "", ctx);
  config.visit(reader);
  reader.finish();
  if (ctx.problems.empty()) apply_model_from(config, ctx.problems);
  if (ctx.problems.empty()) config.validate(ctx.problems);
  ctx.problems.throw_if_any("config " + (path.empty() ? std::string("(defaults)") : path) + " is invalid");
  return config;
}

std::string to_yaml(const Config& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  Writer w(out);
  Config copy = config;  // visit() is shared with the Reader, which needs mutable fields
  copy.visit(w);
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string config_reference() {
  Lister l;
  Config defaults;
  defaults.visit(l);
  return "| key | default | allowed | meaning |\n|---|---|---|---|\n" + l.rows.str();
}

}  // namespace medvqa
