#include "medvqa/dist/env.h"

#include <cstdlib>

#include "medvqa/core/error.h"

namespace medvqa {
namespace {

// SLURM picks no rendezvous port; every task of a job derives the same one from the job id.
constexpr int kSlurmPortBase = 29500;
constexpr int kSlurmPortSpan = 1000;

std::string found(const char* v) { return v ? "'" + std::string(v) + "'" : "nothing"; }

int parse_int(const GetEnv& env, const char* name, int lo, int hi, const std::string& expected, const char* hint) {
  const char* v = env(name);
  char* end = nullptr;
  long x = v && *v ? std::strtol(v, &end, 10) : 0;
  MEDVQA_CHECK(v && *v && *end == '\0' && x >= lo && x <= hi, "dist: ", name, ": expected ", expected, ", found ",
               found(v), hint);
  return static_cast<int>(x);
}

}  // namespace

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
  const char* addr = env("MASTER_ADDR");
  if (!addr && slurm) addr = env("SLURM_LAUNCH_NODE_IPADDR");
  MEDVQA_CHECK(addr && *addr, "dist: MASTER_ADDR: expected the host name or address of rank 0, found nothing",
               slurm ? " (neither MASTER_ADDR nor SLURM_LAUNCH_NODE_IPADDR is set)" : hint);
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
