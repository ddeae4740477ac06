// Two ranks of a c10d Gloo group on one TCPStore at 127.0.0.1, as forked processes, for the tests
// of src/dist.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>

#include "medvqa/dist/launcher.h"
#include "medvqa/dist/process_group.h"

namespace medvqa::test_util {

constexpr std::chrono::seconds kTimeout{20};

inline DistEnv env_of(int rank, int port) {
  DistEnv d;
  d.rank = rank;
  d.world_size = 2;
  d.local_rank = rank;
  d.master_addr = "127.0.0.1";
  d.master_port = port;
  d.source = "test";
  return d;
}

// Forks a child that runs body(rank `rank`'s group) and exits 0 when it returned true.
inline pid_t fork_rank(int rank, int port, const std::function<bool(ProcessGroup&)>& body) {
  pid_t child = ::fork();
  if (child == 0) {
    bool ok = false;
    try {
      ProcessGroup pg(env_of(rank, port), c10::Device(c10::kCPU), kTimeout);
      ok = body(pg);
    } catch (...) {
    }
    ::_exit(ok ? 0 : 1);
  }
  return child;
}

inline int exit_status(pid_t child) {
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Runs body(rank 1's group) in a child and rank0(rank 0's group) here; returns the child's exit
// status (0 when its body returned true).
inline int two_ranks(const std::function<bool(ProcessGroup&)>& body, const std::function<void(ProcessGroup&)>& rank0) {
  int port = free_local_port();
  pid_t child = fork_rank(1, port, body);
  ProcessGroup pg(env_of(0, port), c10::Device(c10::kCPU), kTimeout);
  rank0(pg);
  return exit_status(child);
}

// Runs body on both ranks, each in a child: a process that forks must not have run backward, whose
// device threads (on a machine with a GPU) break autograd in the children. True when both bodies
// returned true.
inline bool both_ranks_in_children(const std::function<bool(ProcessGroup&)>& body) {
  int port = free_local_port();
  pid_t rank0 = fork_rank(0, port, body);
  pid_t rank1 = fork_rank(1, port, body);
  int s0 = exit_status(rank0);
  return (exit_status(rank1) | s0) == 0;
}

}  // namespace medvqa::test_util
