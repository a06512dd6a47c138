"""The server's counters in Prometheus' text format (what llama-server's `/metrics` offers).

Written here rather than taken from prometheus_client: five series, a lock and a histogram are
less than a dependency. Names follow Prometheus conventions (`_total` counters, `_seconds`).
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter

from edgeqa.runtime.prompt_cache import CacheStats

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
PREFIX = "edgeqa"


class ServeMetrics:
    """Responses by status, batches, queue depth, latency histogram, prompt and generated tokens.

    Every response is counted by its status (an unknown route, a wrong key, a body too large, a
    500 included), except health probes and successful scrapes, which would drown the rest;
    the latency histogram holds the answered requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.prompt_tokens = 0
        self.generated_tokens = 0
        self.batches = 0
        self.batched_requests = 0

    def response_sent(self, status: int) -> None:
        with self._lock:
            self.requests[str(status)] += 1

    def answered(self, seconds: float) -> None:
        """An answer's time from arrival to reply."""
        with self._lock:
            self.latency_counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self.latency_sum += seconds

    def batch_done(self, size: int, prompt_tokens: int, generated_tokens: int) -> None:
        with self._lock:
            self.batches += 1
            self.batched_requests += size
            self.prompt_tokens += prompt_tokens
            self.generated_tokens += generated_tokens

    def render(self, queue_depth: int, ready: bool, cache: CacheStats | None = None) -> str:
        """The exposition text for GET /metrics; `cache`: the prompt caches' counts, summed."""
        with self._lock:
            lines = [
                *_cache_lines(cache or CacheStats()),
                f"# HELP {PREFIX}_requests_total Responses by status (not /health, nor scrapes).",
                f"# TYPE {PREFIX}_requests_total counter",
                *(f'{PREFIX}_requests_total{{status="{s}"}} {n}' for s, n in sorted(self.requests.items())),
                f"# HELP {PREFIX}_queue_depth Requests waiting for a batch.",
                f"# TYPE {PREFIX}_queue_depth gauge",
                f"{PREFIX}_queue_depth {queue_depth}",
                f"# HELP {PREFIX}_ready 1 once every model is loaded.",
                f"# TYPE {PREFIX}_ready gauge",
                f"{PREFIX}_ready {int(ready)}",
                f"# HELP {PREFIX}_batches_total Batches decoded, and the requests they held.",
                f"# TYPE {PREFIX}_batches_total counter",
                f"{PREFIX}_batches_total {self.batches}",
                f"{PREFIX}_batched_requests_total {self.batched_requests}",
                f"# HELP {PREFIX}_prompt_tokens_total Prompt tokens read (all windows).",
                f"# TYPE {PREFIX}_prompt_tokens_total counter",
                f"{PREFIX}_prompt_tokens_total {self.prompt_tokens}",
                f"# HELP {PREFIX}_generated_tokens_total Answer tokens generated.",
                f"# TYPE {PREFIX}_generated_tokens_total counter",
                f"{PREFIX}_generated_tokens_total {self.generated_tokens}",
                f"# HELP {PREFIX}_request_seconds Time from arrival to answer.",
                f"# TYPE {PREFIX}_request_seconds histogram",
            ]
            cumulative = 0
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), self.latency_counts, strict=True):
                cumulative += count
                label = "+Inf" if bound == float("inf") else f"{bound:g}"
                lines.append(f'{PREFIX}_request_seconds_bucket{{le="{label}"}} {cumulative}')
            lines += [
                f"{PREFIX}_request_seconds_sum {self.latency_sum:.6f}",
                f"{PREFIX}_request_seconds_count {cumulative}",
            ]
        return "\n".join(lines) + "\n"


def _cache_lines(cache: CacheStats) -> list[str]:
    return [
        f"# HELP {PREFIX}_prompt_cache_hits_total Prompts that found their context cached, by tier.",
        f"# TYPE {PREFIX}_prompt_cache_hits_total counter",
        f'{PREFIX}_prompt_cache_hits_total{{tier="kv"}} {cache.hits}',
        f'{PREFIX}_prompt_cache_hits_total{{tier="ram"}} {cache.ram_hits}',
        f"# HELP {PREFIX}_prompt_cache_misses_total Prompts whose context was read from scratch.",
        f"# TYPE {PREFIX}_prompt_cache_misses_total counter",
        f"{PREFIX}_prompt_cache_misses_total {cache.misses}",
        f"# HELP {PREFIX}_prompt_cache_restored_tokens_total Tokens restored from RAM instead of read.",
        f"# TYPE {PREFIX}_prompt_cache_restored_tokens_total counter",
        f"{PREFIX}_prompt_cache_restored_tokens_total {cache.restored_tokens}",
        f"# HELP {PREFIX}_prompt_cache_ram_bytes Host memory the prompt cache holds (--cache-ram).",
        f"# TYPE {PREFIX}_prompt_cache_ram_bytes gauge",
        f"{PREFIX}_prompt_cache_ram_bytes {cache.ram_bytes}",
    ]
