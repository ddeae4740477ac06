#include "medvqa/dist/env.h"

#include <algorithm>
#include <cstdlib>

#include "medvqa/core/error.h"

namespace medvqa {
namespace {

// SLURM picks no rendezvous port; every task of a job derives the same one from the job id.
constexpr int kSlurmPortBase = 29500;
constexpr int kSlurmPortSpan = 1000;
constexpr int kMaxHosts = 1 << 20;

std::string found(const char* v) { return v ? "'" + std::string(v) + "'" : "nothing"; }

bool parse_long(const std::string& s, long& x) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return false;
  x = std::strtol(s.c_str(), nullptr, 10);
  return true;
}

int parse_int(const GetEnv& env, const char* name, int lo, int hi, const std::string& expected, const char* hint) {
  const char* v = env(name);
  char* end = nullptr;
  long x = v && *v ? std::strtol(v, &end, 10) : 0;
  MEDVQA_CHECK(v && *v && *end == '\0' && x >= lo && x <= hi, "dist: ", name, ": expected ", expected, ", found ",
               found(v), hint);
  return static_cast<int>(x);
}

// Splits at commas outside brackets.
std::vector<std::string> split_top_level(const std::string& s, const std::string& variable, const std::string& whole) {
  std::vector<std::string> out(1);
  int depth = 0;
  for (char c : s) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
    MEDVQA_CHECK(depth == 0 || depth == 1, "dist: ", variable, ": expected a SLURM host list such as node[01-04,07], found '",
                 whole, "' (unbalanced brackets)");
    if (c == ',' && depth == 0) out.emplace_back();
    else out.back() += c;
  }
  MEDVQA_CHECK(depth == 0, "dist: ", variable, ": expected a SLURM host list such as node[01-04,07], found '", whole,
               "' (unclosed bracket)");
  return out;
}

// "01-04,07" -> 01 02 03 04 07: a range keeps the zero padding of its lower bound.
std::vector<std::string> expand_ranges(const std::string& ranges, const std::string& variable, const std::string& whole) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= ranges.size()) {
    size_t comma = ranges.find(',', start);
    std::string part = ranges.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t dash = part.find('-');
    std::string lo_text = part.substr(0, dash), hi_text = dash == std::string::npos ? lo_text : part.substr(dash + 1);
    long lo = 0, hi = 0;
    MEDVQA_CHECK(parse_long(lo_text, lo) && parse_long(hi_text, hi) && lo <= hi, "dist: ", variable,
                 ": expected numbers or ranges such as 01-04 inside brackets, found '", part, "' in '", whole, "'");
    MEDVQA_CHECK(out.size() + static_cast<size_t>(hi - lo) < kMaxHosts, "dist: ", variable, ": more than ", kMaxHosts,
                 " hosts in '", whole, "'");
    for (long x = lo; x <= hi; ++x) {
      std::string n = std::to_string(x);
      if (n.size() < lo_text.size()) n.insert(0, lo_text.size() - n.size(), '0');
      out.push_back(n);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// The nodes of this srun step, first to last (rank 0 runs on the first).
std::string first_slurm_host(const GetEnv& env) {
  for (const char* var : {"SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"})
    if (const char* v = env(var); v && *v) return expand_slurm_hostlist(v, var).front();
  return "";
}

// 0 when srun did not say.
int slurm_local_world_size(const GetEnv& env) {
  for (const char* var : {"SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"}) {
    const char* v = env(var);
    if (!v || !*v) continue;
    std::vector<int> counts = expand_slurm_tasks_per_node(v, var);
    int node = env("SLURM_NODEID") ? parse_int(env, "SLURM_NODEID", 0, static_cast<int>(counts.size()) - 1,
                                               "a node index below the " + std::to_string(counts.size()) + " nodes of " + var,
                                               " (set by srun)")
                                   : 0;
    return counts[static_cast<size_t>(node)];
  }
  return 0;
}

}  // namespace

std::vector<std::string> expand_slurm_hostlist(const std::string& list, const std::string& variable) {
  std::vector<std::string> hosts;
  for (const std::string& item : split_top_level(list, variable, list)) {
    MEDVQA_CHECK(!item.empty(), "dist: ", variable, ": expected a SLURM host list such as node[01-04,07], found '", list,
                 "' (an empty host name)");
    // Each bracket group multiplies the names built so far: rack[1-2]-n[1-2] -> rack1-n1 rack1-n2 ...
    std::vector<std::string> names{""};
    size_t pos = 0;
    while (pos < item.size()) {
      size_t open = item.find('[', pos);
      std::string text = item.substr(pos, open == std::string::npos ? std::string::npos : open - pos);
      MEDVQA_CHECK(text.find(']') == std::string::npos, "dist: ", variable, ": unbalanced brackets in '", list, "'");
      for (auto& n : names) n += text;
      if (open == std::string::npos) break;
      size_t close = item.find(']', open);
      std::vector<std::string> next;
      for (const auto& n : names)
        for (const auto& x : expand_ranges(item.substr(open + 1, close - open - 1), variable, list)) next.push_back(n + x);
      names.swap(next);
      pos = close + 1;
    }
    hosts.insert(hosts.end(), names.begin(), names.end());
  }
  return hosts;
}

std::vector<int> expand_slurm_tasks_per_node(const std::string& text, const std::string& variable) {
  std::vector<int> counts;
  for (const std::string& part : split_top_level(text, variable, text)) {
    size_t paren = part.find("(x");
    long count = 0, repeat = 1;
    bool ok = parse_long(part.substr(0, paren), count) && count > 0;
    if (ok && paren != std::string::npos)
      ok = part.back() == ')' && parse_long(part.substr(paren + 2, part.size() - paren - 3), repeat) && repeat > 0;
    MEDVQA_CHECK(ok && counts.size() + static_cast<size_t>(repeat) <= kMaxHosts, "dist: ", variable,
                 ": expected task counts per node such as 2(x3),1, found '", text, "'");
    counts.insert(counts.end(), static_cast<size_t>(repeat), static_cast<int>(count));
  }
  return counts;
}

DistEnv read_dist_env(const GetEnv& env) {
  DistEnv d;
  const char* hint_torchrun = " (set by torchrun or `medvqa train --nproc-per-node N`)";
  const char* hint_slurm = " (set by srun)";
  bool torchrun = env("RANK") || env("WORLD_SIZE");
  bool slurm = !torchrun && env("SLURM_PROCID");
  if (!torchrun && !slurm) return d;
  const char* rank_var = torchrun ? "RANK" : "SLURM_PROCID";
  const char* world_var = torchrun ? "WORLD_SIZE" : "SLURM_NTASKS";
  const char* local_var = torchrun ? "LOCAL_RANK" : "SLURM_LOCALID";
  const char* hint = torchrun ? hint_torchrun : hint_slurm;
  d.source = torchrun ? "torchrun" : "slurm";
  d.world_size = parse_int(env, world_var, 1, 1 << 20, "a positive integer", hint);
  d.rank = parse_int(env, rank_var, 0, d.world_size - 1, "an integer in [0, " + std::to_string(d.world_size) + ")", hint);
  d.local_rank = env(local_var) ? parse_int(env, local_var, 0, d.world_size - 1, "an integer in [0, world size)", hint) : 0;
  int local_world = 0;  // 0: the launcher did not say
  if (torchrun) {
    if (env("LOCAL_WORLD_SIZE"))
      local_world = parse_int(env, "LOCAL_WORLD_SIZE", 1, d.world_size, "an integer in [1, WORLD_SIZE]", hint);
    // torch's own test: the variable equals str(True).
    d.agent_store = env("TORCHELASTIC_USE_AGENT_STORE") && std::string(env("TORCHELASTIC_USE_AGENT_STORE")) == "True";
    if (env("TORCHELASTIC_RESTART_COUNT"))
      d.restart_count = parse_int(env, "TORCHELASTIC_RESTART_COUNT", 0, 1 << 30, "a non-negative integer", hint);
  } else {
    local_world = slurm_local_world_size(env);
  }
  MEDVQA_CHECK(local_world == 0 || d.local_rank < local_world, "dist: ", local_var, "=", d.local_rank,
               " is not below the ", local_world, " ranks on this node",
               torchrun ? " (LOCAL_WORLD_SIZE)" : " (SLURM_STEP_TASKS_PER_NODE or SLURM_TASKS_PER_NODE at SLURM_NODEID)");
  d.local_world_size = std::max(1, local_world);
  std::string addr = env("MASTER_ADDR") ? env("MASTER_ADDR") : "";
  // Under srun the launch node may be a login node: rank 0 runs on the first node of the step.
  if (addr.empty() && slurm) addr = first_slurm_host(env);
  if (addr.empty() && slurm && env("SLURM_LAUNCH_NODE_IPADDR")) addr = env("SLURM_LAUNCH_NODE_IPADDR");
  MEDVQA_CHECK(!addr.empty(), "dist: MASTER_ADDR: expected the host name or address of rank 0, found nothing",
               slurm ? " (none of MASTER_ADDR, SLURM_STEP_NODELIST, SLURM_JOB_NODELIST or SLURM_LAUNCH_NODE_IPADDR is set)"
                     : hint);
  d.master_addr = addr;
  if (env("MASTER_PORT") || torchrun) {
    d.master_port = parse_int(env, "MASTER_PORT", 1, 65535, "a TCP port in [1, 65535]", hint);
  } else {
    int job = parse_int(env, "SLURM_JOB_ID", 0, 2147483647, "a non-negative integer", " (or set MASTER_PORT)");
    d.master_port = kSlurmPortBase + job % kSlurmPortSpan;
  }
  return d;
}

DistEnv read_dist_env() {
  return read_dist_env([](const char* name) { return static_cast<const char*>(std::getenv(name)); });
}

}  // namespace medvqa
