"""The prompt cache under a workload that looks like use: many users asking about a set of
documents of which a few are popular.

M documents (SQuAD paragraphs and a few whole articles of the data) get a Zipf popularity; each
request asks one of a document's questions, the document drawn by popularity. `edgeqa serve` runs
three ways: no prompt cache, the cache by count in the KV cells (`--prompt-cache 16`), and the
same with evicted entries kept in RAM (`--cache-ram`). Each way is loaded by 1, 20 and 50
concurrent clients. Reported per row: requests/s, latency p50/p95, and the cache's hit rate
(hits in the cells and in RAM over all lookups, from /metrics); and each server's peak RSS.

usage: python benchmarks/serve_cache.py [--data <squad.json>] [--requests 150] [--documents 60]
       [--articles 3] [--clients 1,20,50] [--cache-ram 256] [--caches off,by_count,ram]
       [--stem serve_cache]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import write_results
from benchmarks.serve_load import counter, load, peak_rss_mib, post, start_server
from edgeqa.data.squad import BUNDLED_SAMPLE, as_articles, load_squad

ZIPF_S = 1.1  # popularity of the document ranked r: proportional to r^-s


def popular_requests(data: str, count: int, documents: int, articles: int) -> list[dict[str, str]]:
    """`count` requests over `documents` paragraphs and `articles` whole articles (their own
    questions), each document drawn with Zipf popularity; seeded."""
    examples = load_squad(data)
    by_context: dict[str, list[str]] = {}
    for example in examples:
        by_context.setdefault(example.context, []).append(example.question)
    for article in as_articles(examples):
        by_context.setdefault(article.context, []).append(article.question)
    paragraphs = [c for c in by_context if len(c) < 5_000]
    whole = [c for c in by_context if len(c) >= 5_000]
    rng = random.Random(0)
    chosen = rng.sample(paragraphs, min(documents - articles, len(paragraphs)))
    chosen += rng.sample(whole, min(articles, len(whole)))
    rng.shuffle(chosen)  # popularity rank, articles anywhere in it
    weights = [(rank + 1) ** -ZIPF_S for rank in range(len(chosen))]
    requests = []
    for context in rng.choices(chosen, weights, k=count):
        requests.append({"question": rng.choice(by_context[context]), "context": context})
    return requests


CACHES = {
    "off": ("--prompt-cache", "0", "--cache-ram", "0"),
    "by_count": ("--prompt-cache", "16", "--cache-ram", "0"),
    "ram": ("--prompt-cache", "16"),  # --cache-ram added from the arguments
}


def hit_counts(base: str) -> tuple[int, int]:
    hits = counter(base, 'edgeqa_prompt_cache_hits_total{tier="kv"}')
    hits += counter(base, 'edgeqa_prompt_cache_hits_total{tier="ram"}')
    return hits, hits + counter(base, "edgeqa_prompt_cache_misses_total")


def run_cache(args, name: str, requests: list[dict[str, str]]) -> dict[str, Any]:
    extra = CACHES[name] + (("--cache-ram", str(args.cache_ram)) if name == "ram" else ())
    server, base = start_server(args, extra)
    rows: dict[str, Any] = {}
    try:
        post(base, requests[0])  # warm-up
        for clients in (int(c) for c in args.clients.split(",")):
            before = hit_counts(base)
            row = load(base, requests, clients, args)
            hits, lookups = (now - then for now, then in zip(hit_counts(base), before, strict=True))
            row["hit_rate"] = round(hits / lookups, 3) if lookups else None
            rows[f"clients_{clients}"] = row
        rows["peak_rss_mib"] = peak_rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    return rows


def table(result: dict[str, Any]) -> str:
    lines = ["| cache | clients | requests/s | p50 s | p95 s | hit rate | answered | peak RSS MiB |"]
    lines.append("|---|---|---|---|---|---|---|---|")
    for name in (n for n in CACHES if n in result):
        for key, row in result[name].items():
            if key.startswith("clients_"):
                lines.append(
                    f"| {name} | {key.removeprefix('clients_')} | {row['requests_per_s']} | "
                    f"{row['latency_p50_s']} | {row['latency_p95_s']} | {row['hit_rate']} | "
                    f"{row['answered']} | {result[name]['peak_rss_mib']} |"
                )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(BUNDLED_SAMPLE))
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--documents", type=int, default=60)
    parser.add_argument("--articles", type=int, default=3, help="of the documents, whole articles")
    parser.add_argument("--clients", default="1,20,50")
    parser.add_argument("--cache-ram", type=int, default=256, help="MiB, for the ram way")
    parser.add_argument("--model", default="smollm2-135m-squad")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--queue-size", type=int, default=64)
    parser.add_argument("--max-wait", type=float, default=600.0, help="the server's --max-wait")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a client waits for a reply")
    parser.add_argument("--caches", default=",".join(CACHES), help="which of off, by_count, ram")
    parser.add_argument("--stem", default="serve_cache")
    args = parser.parse_args()

    requests = popular_requests(args.data, args.requests, args.documents, args.articles)
    result: dict[str, Any] = {
        "data": Path(args.data).name,
        "requests": len(requests),
        "documents": len({r["context"] for r in requests}),
        "zipf_s": ZIPF_S,
        "model": args.model,
        "cache_ram_mib": args.cache_ram,
    }
    for name in args.caches.split(","):
        result[name] = run_cache(args, name, requests)
    write_results(args.stem, result, markdown=table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
