"""One profiling configuration: what runs (model, backend, threads, ...) and on which questions."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeqa.reader.policy import AnswerPolicy
from edgeqa.runtime.engine_config import EngineConfig

BACKENDS = ("llama.cpp", "transformers")
TORCH_DTYPES = ("fp32", "bf16")


@dataclass(frozen=True)
class ProfileSpec:
    """Everything that decides a configuration's numbers; its hash names the result file."""

    backend: str
    model: str
    threads: int
    data: str
    questions: int = 20
    seed: int = 0
    warmup: int = 2
    repeats: int = 2
    max_answer_tokens: int = EngineConfig.max_answer_tokens
    n_ctx: int = EngineConfig.n_ctx
    mmap: bool = True
    dtype: str = "fp32"  # transformers only
    policy: AnswerPolicy = field(default_factory=AnswerPolicy)  # llama.cpp only

    @property
    def label(self) -> str:
        stem = Path(self.model).stem
        name = stem if self.backend == "llama.cpp" else f"transformers-{self.dtype} ({stem})"
        mmap = "" if self.mmap or self.backend != "llama.cpp" else " no-mmap"
        return f"{name} t{self.threads}{mmap}"

    @property
    def key(self) -> str:
        encoded = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(encoded).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ProfileSpec:
        return cls(**{**values, "policy": AnswerPolicy(**values.get("policy", {}))})
