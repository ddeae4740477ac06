"""This machine's measured ceilings, for benchmarks to report fractions of: GEMM throughput
(torch.matmul, fp32 and bf16, square 2048) and memory copy bandwidth (a 512 MiB tensor copy,
read + write bytes). Import peak() or run it: `.venv/bin/python bench/machine_peak.py`."""
import json
import time

import torch


def best_of(fn, repeats=5, warmup=True):
    """Shortest wall time of `repeats` calls of fn, after one untimed call when warmup."""
    if warmup:
        fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def peak(threads=None, dtypes=("fp32", "bf16")):
    """GEMM GFLOP/s of each of dtypes (bf16 takes minutes on CPUs without bf16 units) and copy GB/s."""
    if threads:
        torch.set_num_threads(threads)
    out = {"threads": torch.get_num_threads()}
    n = 2048
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        if name not in dtypes:
            continue
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        out[f"gemm_gflops_{name}"] = 2 * n**3 / best_of(lambda: torch.matmul(a, b)) / 1e9
    src = torch.empty(128 * 1024 * 1024, dtype=torch.float32).fill_(1.0)
    dst = torch.empty_like(src)
    out["copy_gbps"] = 2 * src.numel() * 4 / best_of(lambda: dst.copy_(src)) / 1e9
    return out


if __name__ == "__main__":
    print(json.dumps(peak(), indent=1))
