"""`medvqa serve` under load on loopback, beside transformers' generate answering the same requests
one after another in a loop (the Python peer, on the exported bundle, after the server has stopped).

Phases, every request streamed with max_tokens answer tokens (`ignore_eos`, so every answer has the
same length and the decode batch is what is measured): one client alone; `--clients` clients with
`--requests` requests each; then more rounds of the clients until 500 requests in all. Reported:
aggregate completion tokens/s, p50/p95 time to first token and request latency, failures, the
mean decode batch (from /metrics), and the server's RSS after warm-up, after the load phase and
after 500 requests.

Usage: .venv/bin/python bench/bench_serve_load.py [--model runs/demo/stage2] [--clients 8]
       [--requests 25] [--max-tokens 32] [--max-batch 8] [--threads 2]"""
import argparse
import base64
import http.client
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench_ask import Peer

ROOT = Path(__file__).resolve().parents[1]
TOTAL_REQUESTS = 500
TIMEOUT = 300


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024


def metric(port, name):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    return float(next(l.split()[1] for l in text.splitlines() if l.startswith(name + " ")))


def stream_one(port, image_url, question, max_tokens):
    """One streamed request: (ok, time to first token, latency, completion tokens)."""
    body = json.dumps({"model": "medvqa", "max_tokens": max_tokens, "ignore_eos": True, "stream": True,
                       "stream_options": {"include_usage": True},
                       "messages": [{"role": "user", "content": [
                           {"type": "text", "text": question}, {"type": "image_url", "image_url": {"url": image_url}}]}]})
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        res = conn.getresponse()
        if res.status != 200:
            return False, None, None, 0
        first, tokens, done = None, 0, False
        for line in res:
            if not line.startswith(b"data: "):
                continue
            data = line[6:].strip()
            if data == b"[DONE]":
                done = True
                break
            chunk = json.loads(data)
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            elif first is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - t0
        return done and tokens == max_tokens, first, time.perf_counter() - t0, tokens
    finally:
        conn.close()


def percentile(values, q):
    values = sorted(v for v in values if v is not None)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


COUNTERS = ("medvqa_decode_steps_total", "medvqa_decode_rows_total", "medvqa_decode_seconds_total",
            "medvqa_prefill_seconds_sum", "medvqa_prefill_seconds_count")


def server_split(delta, wall_s):
    """Where the server's time went in a phase, from the differences of its /metrics counters."""
    steps = delta["medvqa_decode_steps_total"]
    return {"mean_batch": delta["medvqa_decode_rows_total"] / steps,
            "step_ms": 1e3 * delta["medvqa_decode_seconds_total"] / steps,
            "prefill_ms": 1e3 * delta["medvqa_prefill_seconds_sum"] / delta["medvqa_prefill_seconds_count"],
            "prefill_share": delta["medvqa_prefill_seconds_sum"] / wall_s}


def run_phase(port, items, clients, per_client, max_tokens):
    jobs = [items[i % len(items)] for i in range(clients * per_client)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda item: stream_one(port, *item, max_tokens), jobs))
    wall = time.perf_counter() - t0
    return {"requests": len(jobs), "failures": sum(not r[0] for r in results), "wall_s": wall,
            "tokens_per_s": sum(r[3] for r in results) / wall,
            "ttft_p50": percentile([r[1] for r in results], 0.5), "ttft_p95": percentile([r[1] for r in results], 0.95),
            "latency_p50": percentile([r[2] for r in results], 0.5),
            "latency_p95": percentile([r[2] for r in results], 0.95)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--medvqa", default=str(ROOT / "build" / "medvqa"))
    ap.add_argument("--model", default=str(ROOT / "runs/demo/stage2"))
    ap.add_argument("--predictions", default=str(ROOT / "runs/demo/eval/predictions.jsonl"),
                    help="the images and questions to ask")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=25, help="per client")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    lines = [json.loads(l) for l in Path(a.predictions).read_text().splitlines()][:50]
    items = [("data:image/png;base64," + base64.b64encode(Path(p["image"]).read_bytes()).decode(), p["question"])
             for p in lines]
    port = free_port()
    proc = subprocess.Popen([a.medvqa, "--log-level", "warn", "serve", "--model", a.model, "--port", str(port),
                             "--threads", str(a.threads), "--max-batch", str(a.max_batch), "--max-queue", "256"])
    rows = {}
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                metric(port, "medvqa_queue_length")
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    sys.exit("the server did not start")
                time.sleep(0.2)
        run_phase(port, items, a.clients, 1, a.max_tokens)  # warm-up: every code path once
        rss = {"after warm-up": rss_mb(proc.pid)}
        for name, clients in (("1 client", 1), (f"{a.clients} clients", a.clients)):
            before = {m: metric(port, m) for m in COUNTERS}
            rows[name] = run_phase(port, items, clients, a.requests, a.max_tokens)
            rows[name].update(server_split({m: metric(port, m) - before[m] for m in COUNTERS}, rows[name]["wall_s"]))
        rss[f"after {a.requests + a.clients * a.requests} requests"] = rss_mb(proc.pid)
        done = a.clients + a.requests + a.clients * a.requests
        rest = run_phase(port, items, a.clients, -(-(TOTAL_REQUESTS - done) // a.clients), a.max_tokens)
        rss[f"after {done + rest['requests']} requests"] = rss_mb(proc.pid)
        failures = rest["failures"]
    finally:
        proc.terminate()
        proc.wait(timeout=TIMEOUT)

    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle"
        subprocess.run([a.medvqa, "--log-level", "warn", "export", "--model", a.model, "--out", bundle, "--bundle"],
                       check=True)
        peer = Peer(bundle, a.threads)
        images = [p["image"] for p in lines]
        peer.answer(images[0], lines[0]["question"], a.max_tokens, ignore_eos=True)  # warm-up
        latencies, firsts, tokens = [], [], 0
        t0 = time.perf_counter()
        for i in range(a.requests):
            start = time.perf_counter()
            out = peer.answer(images[i % len(images)], lines[i % len(lines)]["question"], a.max_tokens, ignore_eos=True)
            latencies.append(time.perf_counter() - start)
            firsts.append(out["first_token_s"] + out["preprocess_s"])
            tokens += a.max_tokens
        wall = time.perf_counter() - t0
        rows["python: generate in a loop"] = {
            "requests": a.requests, "failures": 0, "wall_s": wall, "tokens_per_s": tokens / wall,
            "ttft_p50": percentile(firsts, 0.5), "ttft_p95": percentile(firsts, 0.95),
            "latency_p50": percentile(latencies, 0.5), "latency_p95": percentile(latencies, 0.95)}

    alone = rows["1 client"]["tokens_per_s"]
    print(f"serve on {a.model}: {a.max_tokens} answer tokens per request (ignore_eos), --max-batch {a.max_batch}, "
          f"{a.threads} threads; python peer: the exported bundle, transformers generate, one request at a time")
    print("| | requests | failures | tokens/s | vs 1 client | TTFT p50 / p95 ms | latency p50 / p95 ms |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['requests']} | {r['failures']} | {r['tokens_per_s']:.1f} | {r['tokens_per_s'] / alone:.2f}x "
              f"| {r['ttft_p50'] * 1e3:.0f} / {r['ttft_p95'] * 1e3:.0f} "
              f"| {r['latency_p50'] * 1e3:.0f} / {r['latency_p95'] * 1e3:.0f} |")
    for name in ("1 client", f"{a.clients} clients"):
        r = rows[name]
        print(f"{name}: mean decode batch {r['mean_batch']:.2f} rows, {r['step_ms']:.2f} ms per decode step, "
              f"{r['prefill_ms']:.1f} ms per prefill (vision tower + prompt), prefills {100 * r['prefill_share']:.0f}% "
              f"of the wall time")
    print(f"failures in the further rounds: {failures}")
    print("server RSS MB: " + ", ".join(f"{k} {v:.0f}" for k, v in rss.items()))


if __name__ == "__main__":
    main()
