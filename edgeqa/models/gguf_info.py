"""Read a GGUF's header with gguf-py before native code sees it.

llama.cpp aborts or crashes on some malformed files; reading the metadata in Python first turns
a missing, foreign or truncated file into a one-line error that names the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeqa.errors import EdgeQAError

GGUF_MAGIC = b"GGUF"


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


def _file_type_name(value: int | None) -> str:
    import gguf

    if value is None:
        return "unknown"
    try:
        return gguf.LlamaFileType(value).name.removeprefix("MOSTLY_")
    except ValueError:
        return f"type-{value}"


def read_gguf_info(path: str | Path) -> GGUFInfo:
    """Validate and describe a GGUF file; raises EdgeQAError with the file name on any problem."""
    path = Path(path)
    if not path.is_file():
        raise EdgeQAError(f"{path}: model file not found")
    size = path.stat().st_size
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise EdgeQAError(f"{path}: not a GGUF file (expected magic 'GGUF', found {magic!r})")
    import gguf

    try:
        reader = gguf.GGUFReader(path)
    except Exception as exc:  # gguf-py signals corruption with several exception types
        raise EdgeQAError(f"{path}: corrupt or truncated GGUF ({type(exc).__name__}: {exc})") from None
    data_end = max((t.data_offset + int(t.n_bytes) for t in reader.tensors), default=0)
    if data_end > size:
        raise EdgeQAError(f"{path}: truncated GGUF ({size} bytes, tensor data needs {data_end})")

    def field(key: str):
        found = reader.get_field(key)
        return found.contents() if found is not None else None

    architecture = field("general.architecture") or "unknown"
    return GGUFInfo(
        path=path,
        size_bytes=size,
        architecture=architecture,
        name=field("general.name") or path.stem,
        file_type=_file_type_name(field("general.file_type")),
        context_length=field(f"{architecture}.context_length"),
        chat_template=field("tokenizer.chat_template"),
        tensor_count=len(reader.tensors),
    )
