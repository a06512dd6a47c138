"""Load on `edgeqa serve`: 1, 4, 20 and 50 concurrent clients beside one-at-a-time requests and
the engine's own batch rate.

The requests: SQuAD questions with their paragraphs (a seeded sample) plus a few questions
asked against their whole article (read in windows), shuffled as many users' requests arrive.
They are answered in one run: `Reader.answer_many` in this process (the engine's batch rate:
what serving costs on top of), and the server with N concurrent clients, each sending its share
back to back (1 client: the same requests one at a time). Reported per row: requests/s, latency
p50/p95/p99, answered, refused with 503 (and how fast the refusals came), timed out at the
client, lost (sent but never answered) and the server's batches; and the server's peak RSS.
With `--max-wait S` the server refuses what it could not start within S seconds: the rows then
say how many answers came later than S (at most one batch later, if the bound holds).

usage: python benchmarks/serve_load.py [--data <squad.json>] [--requests 120] [--articles 4]
       [--clients 1,4,20,50] [--model smollm2-135m-squad] [--threads 2] [--max-wait 30]
       [--timeout 600] [--stem serve_load]
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import write_results
from edgeqa.data.squad import BUNDLED_SAMPLE, as_articles, load_squad, select_examples


def requests_of(data: str, count: int, articles: int) -> list[dict[str, str]]:
    """The questions in a seeded random order, as they come from many users: consecutive
    requests rarely share a context (which one at a time would otherwise find cached)."""
    examples = load_squad(data)
    chosen = select_examples(examples, limit=count, seed=0)
    whole = select_examples(as_articles(examples), limit=articles, seed=1)
    mixed = [{"question": e.question, "context": e.context} for e in chosen + whole]
    random.Random(0).shuffle(mixed)
    return mixed


TIMED_OUT = -1  # the status of a request the client gave up on


def post(base: str, body: dict[str, str], timeout: float = 600) -> tuple[int, float]:
    """(HTTP status, seconds) of one answer request; 0 when the connection failed, TIMED_OUT
    when no reply came within `timeout`."""
    request = urllib.request.Request(
        base + "/v1/answer", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except TimeoutError:
        status = TIMED_OUT
    except OSError as error:
        status = TIMED_OUT if isinstance(getattr(error, "reason", None), TimeoutError) else 0
    return status, time.perf_counter() - began


def counter(base: str, series: str) -> int:
    """One series' value in the server's /metrics."""
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return int(next(line.split()[-1] for line in text.splitlines() if line.startswith(series + " ")))


def batches(base: str) -> int:
    return counter(base, "edgeqa_batches_total")


def row(
    results: list[tuple[int, float]], wall: float, sent: int, batch_count: int, max_wait: float
) -> dict[str, Any]:
    answered = [seconds for status, seconds in results if status == 200]
    refused = [seconds for status, seconds in results if status == 503]
    percentiles = np.percentile(answered, [50, 95, 99]) if answered else [float("nan")] * 3
    return {
        "requests_per_s": round(len(answered) / wall, 3),
        "latency_p50_s": round(float(percentiles[0]), 3),
        "latency_p95_s": round(float(percentiles[1]), 3),
        "latency_p99_s": round(float(percentiles[2]), 3),
        "answered": len(answered),
        "latency_max_s": round(max(answered), 3) if answered else None,
        "answered_after_max_wait": sum(1 for seconds in answered if seconds > max_wait),
        "refused_503": len(refused),
        "refused_within_1s": sum(1 for seconds in refused if seconds <= 1.0),
        "refused_max_s": round(max(refused), 3) if refused else None,
        "timed_out": sum(1 for status, _ in results if status == TIMED_OUT),
        "errors": sum(1 for status, _ in results if status not in (200, 503, TIMED_OUT)),
        "lost": sent - len(results),
        "batches": batch_count,
        "wall_s": round(wall, 2),
    }


def load(base: str, requests: list[dict[str, str]], clients: int, args) -> dict[str, Any]:
    """Every request sent by `clients` concurrent clients, each sending its share back to back."""
    shares = [requests[i::clients] for i in range(clients)]
    before = batches(base)
    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = [
            r for share in pool.map(lambda s: [post(base, b, args.timeout) for b in s], shares) for r in share
        ]
    wall = time.perf_counter() - began
    return row(results, wall, len(requests), batches(base) - before, args.max_wait)


def engine_rate(model: str, requests: list[dict[str, str]], threads: int) -> dict[str, Any]:
    from edgeqa.reader.reader import Reader

    with Reader(model, threads=threads, n_ctx=8192) as reader:
        reader.answer("Who?", requests[0]["context"])  # warm-up, as the server's first batch
        began = time.perf_counter()
        reader.answer_many([(r["question"], r["context"]) for r in requests])
        wall = time.perf_counter() - began
    return {"requests_per_s": round(len(requests) / wall, 3), "wall_s": round(wall, 2)}


def peak_rss_mib(pid: int) -> float | None:
    """The server process's peak resident memory (Linux: VmHWM)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return None if kib is None else round(kib / 1024, 1)


def start_server(args, extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    """`edgeqa serve` with the benchmark's options (and `extra` ones), once it is ready."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "edgeqa", "serve", "--model", args.model, "--port", str(port)]
    command += ["--threads", str(args.threads), "--queue-size", str(args.queue_size)]
    command += ["--max-wait", str(args.max_wait), *extra]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/health", timeout=2):
                return server, base
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"edgeqa serve exited with status {server.returncode}") from None
            time.sleep(0.5)
    server.kill()
    raise SystemExit("edgeqa serve did not become ready in 300 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(BUNDLED_SAMPLE))
    parser.add_argument("--requests", type=int, default=120, help="questions with their paragraph")
    parser.add_argument("--articles", type=int, default=4, help="questions against a whole article")
    parser.add_argument("--clients", default="1,4,20,50")
    parser.add_argument("--model", default="smollm2-135m-squad")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--queue-size", type=int, default=64)
    parser.add_argument("--max-wait", type=float, default=30.0, help="the server's --max-wait")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a client waits for a reply")
    parser.add_argument("--stem", default="serve_load")
    args = parser.parse_args()

    requests = requests_of(args.data, args.requests, args.articles)
    result: dict[str, Any] = {
        "data": Path(args.data).name,
        "requests": len(requests),
        "whole_articles": args.articles,
        "model": args.model,
        "threads": args.threads,
        "queue_size": args.queue_size,
        "max_wait_s": args.max_wait,
        "client_timeout_s": args.timeout,
        "reader_answer_many": engine_rate(args.model, requests, args.threads),
    }
    server, base = start_server(args)
    try:
        post(base, requests[0])  # warm-up
        for clients in (int(c) for c in args.clients.split(",")):
            result[f"clients_{clients}"] = load(base, requests, clients, args)
        result["server_peak_rss_mib"] = peak_rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    engine = result["reader_answer_many"]["requests_per_s"]
    if "clients_20" in result and "clients_1" in result:
        sequential = result["clients_1"]["requests_per_s"]  # one client: one request at a time
        rate = result["clients_20"]["requests_per_s"]
        result["clients_20_vs_one_at_a_time"] = round(rate / sequential, 2)
        result["clients_20_vs_answer_many"] = round(rate / engine, 2)
    write_results(args.stem, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
