// How a config struct describes its fields: each struct has `template <class V> void visit(V&)`
// calling v.field(key, member, spec) and v.section(key, substruct). Readers, writers and the
// reference printer are visitors; the defaults live in the structs themselves.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace medvqa::config {

struct Spec {
  std::string help;
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  std::vector<std::string> choices;  // non-empty: the value must be one of these
  bool is_path = false;              // relative values resolve against the config file's folder
};

inline Spec doc(std::string help) {
  Spec s;
  s.help = std::move(help);
  return s;
}
inline Spec range(double lo, double hi, std::string help) {
  Spec s = doc(std::move(help));
  s.lo = lo, s.hi = hi;
  return s;
}
inline Spec one_of(std::vector<std::string> choices, std::string help) {
  Spec s = doc(std::move(help));
  s.choices = std::move(choices);
  return s;
}
inline Spec path(std::string help) {
  Spec s = doc(std::move(help));
  s.is_path = true;
  return s;
}

// An enum field is spelled by EnumNames<E>::names(): one name per value, in the enum's order.
// Readers accept only those names; writers and the reference print them.
template <class E>
struct EnumNames;

template <class E>
const std::string& name_of(E value) {
  return EnumNames<E>::names().at(static_cast<size_t>(value));
}
template <class E>
Spec choice(std::string help) {
  return one_of(EnumNames<E>::names(), std::move(help));
}

// Levenshtein distance, for "did you mean" suggestions.
size_t edit_distance(const std::string& a, const std::string& b);
// The candidate closest to `key`, or "" when none is close enough to be a plausible typo.
std::string closest(const std::string& key, const std::vector<std::string>& candidates);

}  // namespace medvqa::config
