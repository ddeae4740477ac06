// Where this process sits in a distributed job, read from the launcher's environment: the torchrun
// protocol (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, and the
// elastic agent's TORCHELASTIC_USE_AGENT_STORE / TORCHELASTIC_RESTART_COUNT) or, without it,
// SLURM's srun variables. Parsing and validation only; rank.h decides the device, process_group.h
// connects.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace medvqa {

struct DistEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  int local_world_size = 1;  // ranks on this node
  std::string master_addr;
  int master_port = 0;
  std::string source;  // "torchrun", "slurm" or "" (no launcher: one process)
  // torchrun >= 2.4: its agent already serves the TCPStore at MASTER_ADDR:MASTER_PORT, so every rank
  // is a client, and each restart of the workers keeps its keys apart under its own prefix.
  bool agent_store = false;
  int restart_count = 0;
};

using GetEnv = std::function<const char*(const char*)>;
// Every bad or missing value is an error naming the variable, what was expected and what was found.
DistEnv read_dist_env(const GetEnv& getenv_fn);
DistEnv read_dist_env();  // the process environment

// SLURM's compressed host list ("gpu[01-03,07],login-[a1-a2]x") expanded in order; `variable`
// names the source in errors.
std::vector<std::string> expand_slurm_hostlist(const std::string& list, const std::string& variable);
// SLURM's per-node task counts ("2(x3),1" -> 2, 2, 2, 1).
std::vector<int> expand_slurm_tasks_per_node(const std::string& text, const std::string& variable);

}  // namespace medvqa
