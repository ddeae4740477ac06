"""Data-parallel training over c10d's Gloo on the CPU, on the demo towers and data of test_train.py:
two ranks of batch b end with the weights of one process of batch 2b, resume works from 2 ranks to
1 and from 1 to 2 (the data position is counted in samples), a rank killed with SIGKILL makes
the others fail within the timeout with an error naming it, leaving no process and an intact
checkpoint behind, and evaluation shared out to 2 ranks writes the predictions of 1 process."""
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import assert_user_error, write_config
from test_train import metrics

# Summation order differs (two partial gradients vs one): the weights agree to rounding.
WEIGHT_TOL = 1e-6
STEPS = 4
GLOBAL_BATCH = 8
# Collective timeout of the kill test; the survivors must be gone well within it plus the launcher's margin.
TIMEOUT_S = 20
THREADS = ["model.threads=1"]


def launch(medvqa_bin, command, cfg, *overrides, nproc=1):
    """`medvqa train|eval -c CFG` with one intra-op thread per rank, through the launcher when nproc > 1."""
    args = [str(medvqa_bin), command, "-c", str(cfg), *THREADS, *overrides]
    if nproc > 1:
        args += ["--nproc-per-node", str(nproc)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def train(medvqa_bin, cfg, *overrides, nproc=1):
    return launch(medvqa_bin, "train", cfg, *overrides, nproc=nproc)


def assert_close(a_dir, b_dir, files=("projector.safetensors",)):
    for name in files:
        a = load_file(a_dir / "final" / name)
        b = load_file(b_dir / "final" / name)
        assert sorted(a) == sorted(b)
        for k in a:
            diff = (a[k] - b[k]).abs().max().item()
            assert diff <= WEIGHT_TOL, f"{name} {k}: max abs diff {diff} at {(a[k] - b[k]).abs().argmax().item()}"


@pytest.fixture(scope="module")
def runs(demo, medvqa_bin):  # noqa: F811
    """One process of batch 8 and two ranks of batch 4, both 4 steps with checkpoints every 2."""
    out = {}
    for name, nproc in (("one", 1), ("two", 2)):
        cfg = write_config(demo, f"dp_{name}", "align", demo / f"dp_{name}", max_steps=STEPS, keep_last=5,
                           batch_size=GLOBAL_BATCH // nproc)
        out[name] = (cfg, train(medvqa_bin, cfg, nproc=nproc))
    return out


def test_two_ranks_equal_one_process_of_the_global_batch(demo, runs):  # noqa: F811
    _, proc = runs["two"]
    # Every rank checks at the end that it holds rank 0's weights bit for bit.
    assert "[rank 0] " in proc.stderr and "dist: trainable weights identical on all 2 ranks" in proc.stderr, proc.stderr
    assert "gloo" in proc.stderr
    assert json.loads(proc.stdout.removeprefix("[rank 0] "))["steps"] == STEPS
    assert_close(demo / "dp_one", demo / "dp_two")
    one = [m["loss"] for m in metrics(demo / "dp_one") if "loss" in m]
    two = [m["loss"] for m in metrics(demo / "dp_two") if "loss" in m]
    assert len(one) == len(two) == STEPS
    assert max(abs(a - b) for a, b in zip(one, two)) < 1e-5, (one, two)
    for run in ("dp_one", "dp_two"):  # the data position does not depend on the world size
        state = json.loads((demo / run / "checkpoints/step_000000002/state.json").read_text())
        assert (state["epoch"], state["sample"]) == (0, 2 * GLOBAL_BATCH), state


def test_accumulated_micro_batches_in_many_buckets_equal_one_process_of_the_global_batch(demo, runs, medvqa_bin):  # noqa: F811
    """The all-reduce overlapped with backward: 2 ranks x 2 micro-batches of 2, buckets of 1 KiB
    (several, started inside the second micro-batch's backward), against 1 process of batch 8."""
    cfg, _ = runs["two"]
    out = demo / "dp_accum"
    proc = train(medvqa_bin, cfg, f"train.out_dir={out}", f"train.batch_size={GLOBAL_BATCH // 4}", "train.grad_accum=2",
                 "dist.bucket_mb=0.001", nproc=2)
    buckets = int(re.search(r"(\d+) gradient buckets", proc.stderr).group(1))
    assert buckets > 1, proc.stderr
    assert "dist: trainable weights identical on all 2 ranks" in proc.stderr, proc.stderr
    assert_close(demo / "dp_one", out)
    shares = [m["exposed_comm_share"] for m in metrics(out) if "loss" in m]
    assert len(shares) == STEPS and all(0 <= s < 1 for s in shares), shares


def test_lora_with_recomputed_layers_in_many_buckets_equals_one_process(demo, runs, medvqa_bin):  # noqa: F811
    """Stage 2 (LoRA on every decoder linear + projector, gradient checkpointing: the layers'
    gradients arrive through the recomputing autograd function) in 1 KiB buckets, 2 ranks x 2
    micro-batches of 2 against 1 process of batch 8."""
    outs = {}
    for name, nproc, batch, accum in (("one", 1, GLOBAL_BATCH, 1), ("two", 2, GLOBAL_BATCH // 4, 2)):
        outs[name] = demo / f"dp_lora_{name}"
        cfg = write_config(demo, f"dp_lora_{name}", "lora", outs[name], projector=demo / "dp_one/final/projector.safetensors",
                           max_steps=2, batch_size=batch, grad_accum=accum, dist={"bucket_mb": 0.001})
        # No LoRA dropout: ranks draw their masks from their own streams.
        proc = train(medvqa_bin, cfg, "model.gradient_checkpointing=true", "model.lora.dropout=0", nproc=nproc)
    buckets = int(re.search(r"(\d+) gradient buckets", proc.stderr).group(1))
    assert buckets > 10, proc.stderr
    assert_close(outs["one"], outs["two"], ("projector.safetensors", "adapter/adapter_model.safetensors"))


@pytest.mark.parametrize("writer,nproc", [("two", 1), ("one", 2)])
def test_resume_on_another_world_size(demo, runs, medvqa_bin, writer, nproc):  # noqa: F811
    cfg, _ = runs[writer]
    out = demo / f"resumed_{writer}_on_{nproc}"
    train(medvqa_bin, cfg, f"train.out_dir={out}", f"train.batch_size={GLOBAL_BATCH // nproc}",
          f"train.resume={demo / f'dp_{writer}' / 'checkpoints/step_000000002'}", nproc=nproc)
    assert [m["step"] for m in metrics(out) if "loss" in m] == [3, 4]
    assert_close(demo / "dp_one", out)


def rank_pids(launcher_pid):
    """{rank: pid} of the launcher's children, from their environment."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            env = (stat.parent / "environ").read_bytes().split(b"\0") if ppid == launcher_pid else []
        except (OSError, IndexError, ValueError):
            continue
        for var in env:
            if var.startswith(b"RANK="):
                out[int(var[5:])] = int(stat.parent.name)
    return out


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@contextlib.contextmanager
def long_run(medvqa_bin, cfg, out):
    """A 2-rank launcher on an endless run, yielded with its {rank: pid} once a checkpoint exists."""
    launcher = subprocess.Popen([str(medvqa_bin), "train", "-c", str(cfg), *THREADS, "--nproc-per-node", "2"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while not list((out / "checkpoints").glob("step_*[0-9]")) and launcher.poll() is None:
            assert time.time() < deadline, "no checkpoint after 300 s"
            time.sleep(0.2)
        pids = rank_pids(launcher.pid)
        assert sorted(pids) == [0, 1], pids
        yield launcher, pids
    finally:
        if launcher.poll() is None:
            launcher.kill()


def endless_config(demo, name, out):  # noqa: F811
    return write_config(demo, name, "align", out, max_steps=10000, save_every=1, keep_last=2,
                        batch_size=GLOBAL_BATCH // 2, dist={"timeout_s": TIMEOUT_S})


@pytest.mark.parametrize("victim", [1, 0])
def test_a_killed_rank_stops_the_others_and_leaves_a_good_checkpoint(demo, medvqa_bin, tmp_path, victim):  # noqa: F811
    out = tmp_path / "run"
    cfg = endless_config(demo, f"kill{victim}", out)
    with long_run(medvqa_bin, cfg, out) as (launcher, pids):
        os.kill(pids[victim], signal.SIGKILL)
        killed_at = time.time()
        _, stderr = launcher.communicate(timeout=TIMEOUT_S + 30)
        took = time.time() - killed_at
    assert launcher.returncode != 0
    assert f"launcher: rank {victim} (pid {pids[victim]}) was killed by signal 9" in stderr, stderr
    survivor = 1 - victim
    # The survivor's own error names the dead rank (rank 0 also hosts the TCPStore).
    assert f"[rank {survivor}] error: dist: rank {survivor}:" in stderr, stderr
    assert f"rank {victim} did not answer" in stderr or (victim == 0 and "rank 0 (host of the TCPStore) is unreachable" in stderr), stderr
    assert took < TIMEOUT_S + 10, f"the survivor took {took:.1f} s"
    assert not any(alive(p) for p in pids.values()), "a rank outlived the launcher"
    # The newest complete checkpoint loads and resumes.
    newest = sorted((out / "checkpoints").glob("step_*[0-9]"))[-1]
    state = json.loads((newest / "state.json").read_text())
    assert {"__rng__.cpu", "__rng__.cpu.rank1"} <= load_file(newest / "trainable.safetensors").keys()
    resumed = train(medvqa_bin, cfg, f"train.max_steps={state['step'] + 1}", "train.resume=auto")
    assert json.loads(resumed.stdout)["steps"] == state["step"] + 1


def test_bad_launcher_environment_is_a_clean_error(demo, medvqa_bin, tmp_path):  # noqa: F811
    cfg = write_config(demo, "badenv", "align", tmp_path / "bad")
    env = dict(os.environ, RANK="x", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT="29999")
    proc = subprocess.run([str(medvqa_bin), "train", "-c", str(cfg)], capture_output=True, text=True, env=env)
    assert_user_error(proc, "RANK: expected an integer in [0, 2), found 'x'")
    proc = subprocess.run([str(medvqa_bin), "train", "-c", str(cfg), "train.lr=7", "--nproc-per-node", "2"],
                          capture_output=True, text=True)
    assert_user_error(proc, "train.lr")
    assert "[rank" not in proc.stderr, "a config error must be reported once, before any rank starts"


def test_evaluation_shared_out_to_two_ranks_writes_the_predictions_of_one(demo, runs, medvqa_bin):  # noqa: F811
    cfg, _ = runs["one"]
    # Batch 1: every prompt is computed alone, so the answers cannot depend on how items are shared out.
    common = [f"model.projector_weights={demo / 'dp_one/final/projector.safetensors'}", "eval.max_new_tokens=2",
              "eval.batch_size=1", "eval.blind=false"]
    predictions = {}
    for nproc in (1, 2):
        out = demo / f"eval_{nproc}"
        proc = launch(medvqa_bin, "eval", cfg, *common, f"eval.out_dir={out}", nproc=nproc)
        predictions[nproc] = (out / "predictions.jsonl").read_text()
    assert "gloo" in proc.stderr and proc.stdout.startswith("[rank 0] {"), proc.stderr
    assert len(predictions[1].splitlines()) > 2
    assert predictions[2] == predictions[1]


def test_a_signal_to_the_launcher_reaches_every_rank_which_checkpoint_the_same_step(demo, medvqa_bin, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    with long_run(medvqa_bin, endless_config(demo, "sigint", out), out) as (launcher, pids):
        launcher.send_signal(signal.SIGINT)
        _, stderr = launcher.communicate(timeout=120)
    assert launcher.returncode == 128 + signal.SIGINT, stderr
    assert "launcher: signal 2: forwarding to every rank" in stderr and "[rank 0] " in stderr, stderr
    assert "resume with train.resume=auto" in stderr and "stopping the other ranks" not in stderr, stderr
    assert not any(alive(p) for p in pids.values())
    assert not list((out / "checkpoints").glob("*.tmp")), "a checkpoint was left half-written"


def free_port(lo=0, hi=1):
    """A port on 127.0.0.1 that was free a moment ago: the kernel's choice, or the first free one in [lo, hi)."""
    import socket
    for port in range(lo, hi):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise AssertionError(f"no free port in [{lo}, {hi})")


def torchrun_one(medvqa_bin, cfg, out, *overrides):
    """`medvqa train` as torchrun --nproc-per-node 1 starts it: world size 1, through a process group."""
    env = dict(os.environ, RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    proc = subprocess.run([str(medvqa_bin), "train", "-c", str(cfg), *THREADS, f"train.out_dir={out}", *overrides],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_world_size_one_under_torchrun_runs_through_a_group(demo, runs, medvqa_bin):  # noqa: F811
    cfg, _ = runs["one"]
    proc = torchrun_one(medvqa_bin, cfg, demo / "torchrun_1")
    assert "dist: rank 0 of 1 (torchrun, local rank 0 of 1), gloo on cpu" in proc.stderr, proc.stderr
    assert_close(demo / "dp_one", demo / "torchrun_1")  # a group of one changes nothing


def torchrun_command(medvqa_bin, cfg, out, nproc, *agent_args):
    """The README's `torchrun --no-python build/medvqa train ...`, with the venv's torchrun."""
    torchrun = Path(sys.executable).parent / "torchrun"
    nodes = 2 if "--nnodes" in agent_args else 1
    return [str(torchrun), "--nproc-per-node", str(nproc), *agent_args, "--no-python", str(medvqa_bin), "train", "-c",
            str(cfg), *THREADS, f"train.out_dir={out}", f"train.batch_size={GLOBAL_BATCH // nproc // nodes}"]


def finished(procs, timeout=600):
    outs = [p.communicate(timeout=timeout) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
    return [err for _, err in outs]


def test_torchrun_no_python_with_the_agent_store(demo, runs, medvqa_bin):  # noqa: F811
    """torchrun >= 2.4 serves the TCPStore from its agent on MASTER_PORT (TORCHELASTIC_USE_AGENT_STORE):
    every rank must join it as a client. (The old rank 0 tried to serve the port itself and failed.)"""
    cfg, _ = runs["one"]
    out = demo / "torchrun_2"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    (err,) = finished([subprocess.Popen(torchrun_command(medvqa_bin, cfg, out, 2), stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, env=env)])
    assert "(torchrun agent store, attempt 0)" in err, err
    assert "dist: rank 0 of 2 (torchrun, local rank 0 of 2), gloo on cpu" in err, err
    assert "dist: trainable weights identical on all 2 ranks" in err, err
    assert_close(demo / "dp_one", out)


def test_a_torchrun_restart_joins_the_agent_store_under_fresh_keys(demo, runs, medvqa_bin, tmp_path):  # noqa: F811
    """torchrun --max-restarts 1 where rank 1 of the first attempt fails at once: the second attempt
    meets a store that still holds the first attempt's keys and runs under its own prefix, as torch's
    workers do. (Without the prefix this run also passed here: the stale keys happened to be
    overwritten before they were read.)"""
    cfg, _ = runs["one"]
    out = demo / "torchrun_restart"
    wrapper = tmp_path / "medvqa_fails_once"
    wrapper.write_text(f'#!/bin/sh\n[ "$TORCHELASTIC_RESTART_COUNT" = 0 ] && [ "$RANK" = 1 ] && exit 3\nexec {medvqa_bin} "$@"\n')
    wrapper.chmod(0o755)
    command = torchrun_command(wrapper, cfg, out, 2, "--max-restarts", "1", "--monitor-interval", "0.1")
    (err,) = finished([subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)])
    assert "(torchrun agent store, attempt 1)" in err, err
    assert_close(demo / "dp_one", out)


def test_two_simulated_nodes_of_torchrun_agents_equal_one_process(demo, runs, medvqa_bin):  # noqa: F811
    """Multi-node on one machine: two torchrun agents (--nnodes 2, node rank 0 and 1, rendezvous on
    127.0.0.1) x 2 ranks of batch 2 end with the weights of 1 process of batch 8."""
    cfg, _ = runs["one"]
    out = demo / "two_nodes"
    port = free_port()
    procs = [subprocess.Popen(torchrun_command(medvqa_bin, cfg, out, 2, "--nnodes", "2", "--node-rank", str(node),
                                               "--master-addr", "127.0.0.1", "--master-port", str(port)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for node in (0, 1)]
    err0, _ = finished(procs)
    assert "dist: rank 0 of 4 (torchrun, local rank 0 of 2)" in err0, err0
    assert "dist: trainable weights identical on all 4 ranks" in err0, err0
    assert_close(demo / "dp_one", out)


def test_srun_like_environment_alone_on_two_simulated_nodes(demo, runs, medvqa_bin):  # noqa: F811
    """The same 4 ranks started from SLURM's variables alone, as srun -N 2 --ntasks-per-node 2 sets
    them: the rendezvous host is the first of SLURM_JOB_NODELIST, the port comes from the job id,
    each node's 2 ranks share its cores."""
    cfg, _ = runs["one"]
    out = demo / "srun_4"
    port = free_port(29500, 30500)  # the job id decides the port: 29500 + id mod 1000
    procs = []
    for rank in range(4):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "MASTER_", "RANK", "WORLD_SIZE", "LOCAL_"))}
        env.update(SLURM_PROCID=str(rank), SLURM_NTASKS="4", SLURM_LOCALID=str(rank % 2), SLURM_NODEID=str(rank // 2),
                   SLURM_JOB_ID=str(1000 + port - 29500), SLURM_JOB_NODELIST="localhost,localhost",
                   SLURM_TASKS_PER_NODE="2(x2)")
        procs.append(subprocess.Popen([str(medvqa_bin), "train", "-c", str(cfg), f"train.out_dir={out}", "model.threads=0",
                                       f"train.batch_size={GLOBAL_BATCH // 4}"], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=env))
    errs = finished(procs)
    assert f"dist: rank 0 of 4 (slurm, local rank 0 of 2), gloo on cpu via localhost:{port}" in errs[0], errs[0]
    # model.threads=0: the node's cores are shared among its 2 ranks.
    assert re.search(r"dist: rank 0: \d+ intra-op threads \(\d+ cores / 2 rank\(s\) on this node\)", errs[0]), errs[0]
    assert_close(demo / "dp_one", out)


# The GPU runs the same fp32 arithmetic in other kernels (cuBLAS, cuDNN's convolution, perhaps in
# TF32): after STEPS steps its weights agree with the CPU's to this fraction of how far training
# moved them, which must itself be far above the difference for the check to mean anything.
GPU_REL_TOL = 1e-2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (the one-GPU NCCL run of the demo)")
def test_one_gpu_nccl_run_of_the_demo_equals_the_cpu_run(demo, runs, medvqa_bin):  # noqa: F811
    """cuda fp32 through a one-rank NCCL group against the CPU's fp32 run, both 4 steps at lr 1e-3."""
    cfg, _ = runs["one"]
    out = demo / "nccl_1"
    proc = torchrun_one(medvqa_bin, cfg, out, "model.device=cuda", "model.dtype=fp32", "train.autocast=none")
    assert "dist: rank 0 of 1 (torchrun, local rank 0 of 1), nccl on cuda:0" in proc.stderr, proc.stderr
    start = demo / "nccl_start"  # the projector before any step: lr 0 leaves it as initialised
    train(medvqa_bin, cfg, f"train.out_dir={start}", "train.lr=0", "train.max_steps=1")
    a, b = load_file(demo / "dp_one/final/projector.safetensors"), load_file(out / "final/projector.safetensors")
    s = load_file(start / "final/projector.safetensors")
    for k in a:
        moved = (a[k] - s[k]).abs().max().item()
        diff = (a[k] - b[k]).abs().max().item()
        assert moved > 0, f"{k}: training did not move the weights"
        assert diff <= GPU_REL_TOL * moved, f"projector {k}: CPU vs one-GPU NCCL run, max abs diff {diff}, moved {moved}"
