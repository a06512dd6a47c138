"""What this machine offers the runtime: the one place cores are counted."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The default thread count: the cores this process may run on (all of them where the OS
    cannot say)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)
