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
    n_ctx: int = EngineConfig.n_ctx
    """KV cache size in tokens, shared by the questions decoded together"""
    batch: int = EngineConfig.n_batch
    """llama.cpp batch size for prompt processing"""
    parallel: int = EngineConfig.parallel
    """questions decoded together"""
    max_answer_tokens: int = EngineConfig.max_answer_tokens
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
