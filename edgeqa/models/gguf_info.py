"""Read a GGUF's header with gguf-py before native code sees it.

llama.cpp aborts or crashes on some malformed files; reading the metadata in Python first turns
a missing, foreign or truncated file into a one-line error that names the file.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass, field
from pathlib import Path

from edgeqa.errors import EdgeQAError
from edgeqa.models.gguf_header import SKIPPED_ARRAY, read_gguf_header
from edgeqa.prompts import (
    DEFAULT_PROMPT_LAYOUT,
    PROMPT_LAYOUT_KEY,
    PROMPT_LAYOUTS,
    TEMPLATE_DATE,
    TEMPLATE_DATE_KEY,
)

GGUF_MAGIC = b"GGUF"
LORA_BASE_KEY = "edgeqa.lora.base"  # in a LoRA GGUF: the model llama.cpp applies it to


@dataclass(frozen=True)
class GGUFInfo:
    """The facts about a GGUF file that users and later stages ask for."""

    path: Path
    size_bytes: int
    architecture: str
    name: str
    file_type: str
    context_length: int | None
    chat_template: str | None
    tensor_count: int
    hparams: dict[str, float] = field(default_factory=dict)  # layers, widths, heads, RoPE base
    prompt_layout: str = DEFAULT_PROMPT_LAYOUT  # how edgeqa fine-tuned it to be asked
    template_date: str = TEMPLATE_DATE  # the date its chat template was rendered with in training
    adapter_base: str | None = None
    """For a LoRA adapter GGUF: the model it applies to (a path or a name such as 'embedded')."""
    is_adapter: bool = False
    is_imatrix: bool = False  # an importance matrix (llama-imatrix's GGUF), not a model

    def hparam(self, key: str, default: float | None = None) -> float:
        if key in self.hparams:
            return self.hparams[key]
        if default is None:
            raise EdgeQAError(f"{self.path}: the GGUF does not record {self.architecture}.{key}")
        return default


HPARAM_KEYS = (
    "block_count",
    "embedding_length",
    "attention.head_count",
    "attention.head_count_kv",
    "rope.freq_base",
    "rope.dimension_count",
)


def _file_type_name(value: int | None) -> str:
    import gguf

    if value is None:
        return "unknown"
    try:
        return gguf.LlamaFileType(value).name.removeprefix("MOSTLY_")
    except ValueError:
        return f"type-{value}"


def read_gguf_info(path: str | Path) -> GGUFInfo:
    """Validate and describe a GGUF file; raises EdgeQAError with the file name on any problem.
    Read once per file and change (a command asks several times; the answer is shared)."""
    path = Path(path)
    if path.is_dir():
        raise EdgeQAError(f"{path}: is a folder, not a GGUF file; name the .gguf file in it")
    if not path.is_file():
        raise EdgeQAError(f"{path}: model file not found")
    stat = path.stat()
    return _read_gguf_info(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _read_gguf_info(path: Path, size: int, mtime_ns: int) -> GGUFInfo:
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise EdgeQAError(f"{path}: not a GGUF file (expected magic 'GGUF', found {magic!r})")
    try:
        header = read_gguf_header(path)
    except (EdgeQAError, OSError, struct.error) as exc:
        raise EdgeQAError(f"{path}: corrupt or truncated GGUF ({exc})") from None
    if header.data_end > size:
        raise EdgeQAError(f"{path}: truncated GGUF ({size} bytes, tensor data needs {header.data_end})")

    def value(key: str):
        found = header.metadata.get(key)
        return None if found is SKIPPED_ARRAY else found

    architecture = value("general.architecture") or "unknown"
    hparams = {
        key: value(f"{architecture}.{key}")
        for key in HPARAM_KEYS
        if value(f"{architecture}.{key}") is not None
    }
    prompt_layout = value(PROMPT_LAYOUT_KEY) or DEFAULT_PROMPT_LAYOUT
    if prompt_layout not in PROMPT_LAYOUTS:
        raise EdgeQAError(
            f"{path}: {PROMPT_LAYOUT_KEY} is {prompt_layout!r}; this edgeqa knows {', '.join(PROMPT_LAYOUTS)}"
        )
    return GGUFInfo(
        path=path,
        size_bytes=size,
        architecture=architecture,
        name=value("general.name") or path.stem,
        file_type=_file_type_name(value("general.file_type")),
        context_length=value(f"{architecture}.context_length"),
        chat_template=value("tokenizer.chat_template"),
        tensor_count=header.tensor_count,
        hparams=hparams,
        prompt_layout=prompt_layout,
        template_date=value(TEMPLATE_DATE_KEY) or TEMPLATE_DATE,
        adapter_base=value(LORA_BASE_KEY),
        is_adapter=value("general.type") == "adapter",
        is_imatrix=value("general.type") == "imatrix",
    )
