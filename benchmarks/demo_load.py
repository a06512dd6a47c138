"""Load on the demo: N concurrent requests from N client threads against `edgeqa demo` on loopback.

The demo runs as its own process, as a user would start it; every client sends a different
bundled SQuAD question at the same moment, to the demo's default model (the one its page opens
on). Reports how many were answered, the latency each client saw (queueing included: p50, p95,
max), the time per answer (wall time over answers: what one answer costs the server) and the
p95 wait, the p95 latency less that time.

usage: python benchmarks/demo_load.py [--requests 20] [--concurrency 16] [--stem demo_load]
writes: benchmarks/results/demo_load.json and .md
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import threading
import time

import numpy as np
from _report import write_results

from edgeqa.data.squad import BUNDLED_SAMPLE, load_squad, select_examples


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, timeout_s: float = 180) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the demo exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the demo did not come up at {url} in {timeout_s:.0f} s")


def _ask_all(url: str, examples) -> tuple[list[float | None], list[str], float]:
    """Every question at once, one client each, released together: (latencies, answers, wall s)."""
    from gradio_client import Client

    latencies: list[float | None] = [None] * len(examples)
    answers: list[str] = [""] * len(examples)
    start = threading.Barrier(len(examples))

    def ask(index: int) -> None:
        own = Client(url, verbose=False)
        start.wait()
        began = time.perf_counter()
        answer, *_ = own.predict(examples[index].context, examples[index].question, api_name="/answer")
        latencies[index] = time.perf_counter() - began
        answers[index] = answer

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(examples))]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, answers, time.perf_counter() - began


def _summary(latencies: list[float | None], answers: list[str], wall: float, concurrency: int) -> dict:
    from edgeqa.demo.app import default_service

    done = [t for t in latencies if t is not None]
    per_answer = wall / max(1, len(done))
    p95 = float(np.percentile(done, 95))
    return {
        "endpoint": "/answer",
        "default_model": default_service().default_model,
        "requests": len(latencies),
        "answered": sum(1 for answer in answers if answer),
        "concurrency_limit": concurrency,
        "wall_s": round(wall, 2),
        "latency_p50_s": round(float(np.percentile(done, 50)), 2),
        "latency_p95_s": round(p95, 2),
        "per_answer_s": round(per_answer, 2),
        "wait_p95_s": round(p95 - per_answer, 2),
        "latency_max_s": round(max(done), 2),
        "requests_per_s": round(len(done) / wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16, help="the demo's --concurrency")
    parser.add_argument("--stem", default="demo_load")
    args = parser.parse_args()

    from gradio_client import Client

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [
        sys.executable,
        "-m",
        "edgeqa",
        "demo",
        "--port",
        str(port),
        "--concurrency",
        str(args.concurrency),
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(url, server)
        examples = select_examples(load_squad(BUNDLED_SAMPLE), limit=args.requests, seed=0)
        first = examples[0]
        Client(url, verbose=False).predict(
            first.context, first.question, api_name="/answer"
        )  # loads the model
        latencies, answers, wall = _ask_all(url, examples)
    finally:
        server.terminate()
        server.wait(timeout=30)
    write_results(args.stem, _summary(latencies, answers, wall, args.concurrency))


if __name__ == "__main__":
    main()
