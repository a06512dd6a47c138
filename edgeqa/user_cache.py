"""Where edgeqa keeps what it makes once and reuses (merged readers, GGUF bases as HF folders)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "EDGEQA_CACHE_DIR"


def cache_dir() -> Path:
    """$EDGEQA_CACHE_DIR, else $XDG_CACHE_HOME/edgeqa, else ~/.cache/edgeqa."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeqa"
