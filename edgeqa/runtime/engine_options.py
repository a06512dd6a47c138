"""The llama.cpp engine's command-line options, shared by eval and calibrate."""

from __future__ import annotations

from dataclasses import dataclass

from edgeqa.hardware import usable_cores
from edgeqa.option_field import option
from edgeqa.runtime.engine_config import EngineConfig


@dataclass(frozen=True)
class EngineOptions:
    GROUP = ("llama.cpp engine", "how the questions are decoded on this machine")

    threads: int = option(factory=usable_cores)
    """CPU threads for llama.cpp (default: the usable cores)"""
    n_ctx: int = 4096
    """KV cache size in tokens, shared by the questions decoded together"""
    batch: int = 512
    """llama.cpp batch size for prompt processing"""
    parallel: int = 16
    """questions decoded together"""
    max_answer_tokens: int = 32
    """answer length cap"""
    no_mmap: bool = False
    """read the model into memory instead of mapping the file"""

    def engine_config(self) -> EngineConfig:
        """The settings as an EngineConfig; a bad value is one line naming its flag."""
        return EngineConfig(
            n_ctx=self.n_ctx,
            n_threads=self.threads,
            n_batch=self.batch,
            parallel=self.parallel,
            max_answer_tokens=self.max_answer_tokens,
            use_mmap=not self.no_mmap,
        )
