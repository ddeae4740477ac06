// Where this process sits in a distributed job, read from the launcher's environment: the torchrun
// protocol (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) or, without it, SLURM's srun
// variables. Parsing and validation only; process_group.h connects.
#pragma once

#include <functional>
#include <string>

namespace medvqa {

struct DistEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr;
  int master_port = 0;
  std::string source;  // "torchrun", "slurm" or "" (no launcher: one process)
};

using GetEnv = std::function<const char*(const char*)>;
// Every bad or missing value is an error naming the variable, what was expected and what was found.
DistEnv read_dist_env(const GetEnv& getenv_fn);
DistEnv read_dist_env();  // the process environment

}  // namespace medvqa
