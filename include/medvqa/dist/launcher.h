// The local launcher of `medvqa train --nproc-per-node N`: runs this same command line N times with
// the torchrun environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1, a free
// MASTER_PORT), prefixes each output line with "[rank k] ", forwards SIGINT/SIGTERM, and when one
// rank fails stops the others (SIGTERM, then SIGKILL after `grace_s`).
#pragma once

namespace medvqa {

// Returns the exit code for the launcher: 0 when every rank succeeded, else the first failure's
// (128 + signal for a rank killed by a signal).
int launch_local(int nproc, double grace_s);
// What `--nproc-per-node N` does: with N > 1 and no launcher environment (RANK, SLURM_PROCID) yet,
// runs the N ranks and exits with launch_local's code; otherwise returns and this process is a rank.
// The others get `timeout_s` (dist.timeout_s) and a margin to fail on their own after one did.
void launch_if_requested(int nproc, double timeout_s);
// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice for port 0).
int free_local_port();

}  // namespace medvqa
