"""A GGUF header reader that reads only what edgeqa asks for, and fast.

gguf-py's `GGUFReader` builds a Python object for every element of every array, which for a
49k-entry vocabulary is several seconds per call. edgeqa needs the scalar and string metadata
(architecture, name, chat template, hyper-parameters) and where the tensors end (to tell a
truncated file), so arrays are skipped: numeric ones in one seek, string ones by their lengths.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError

# GGUF value types (the spec's numbering) -> struct format of one scalar
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9
SKIPPED_ARRAY = object()
"""The value recorded for an array: present, not read."""


@dataclass(frozen=True)
class GGUFHeader:
    version: int
    metadata: dict[str, Any]
    tensor_count: int
    data_end: int
    """Byte offset where the last tensor's data ends: beyond the file size means truncated."""
    parameters: int
    """Elements in all tensors."""


class _Reader:
    """A cursor over the mapped file: no system call per field, which matters for the
    49k-entry string arrays that are walked only to be skipped."""

    def __init__(self, buffer: mmap.mmap, size: int):
        self.buffer, self.size, self.pos = buffer, size, 0

    def take(self, count: int) -> bytes:
        if self.pos + count > self.size:
            raise EdgeQAError("header ends early")
        data = self.buffer[self.pos : self.pos + count]
        self.pos += count
        return data

    def skip(self, count: int) -> None:
        self.pos += count

    def unpack(self, fmt: str) -> Any:
        width = struct.calcsize("<" + fmt)
        if self.pos + width > self.size:
            raise EdgeQAError("header ends early")
        value = struct.unpack_from("<" + fmt, self.buffer, self.pos)[0]
        self.pos += width
        return value

    def string(self) -> str:
        length = self.unpack("Q")
        if length > self.size:
            raise EdgeQAError(f"a string of {length} bytes in a file of {self.size}")
        return self.take(length).decode("utf-8", errors="replace")

    def value(self, kind: int) -> Any:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            element, count = self.unpack("I"), self.unpack("Q")
            if element in _SCALARS:
                self.skip(count * struct.calcsize(_SCALARS[element]))
            elif element == _STRING:
                for _ in range(count):
                    self.skip(self.unpack("Q"))
            else:
                for _ in range(count):
                    self.value(element)
            return SKIPPED_ARRAY
        raise EdgeQAError(f"unknown metadata value type {kind}")


def _tensor_bytes(kind: int, elements: int) -> int:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    try:
        block, size = GGML_QUANT_SIZES[GGMLQuantizationType(kind)]
    except (ValueError, KeyError):
        raise EdgeQAError(f"unknown tensor type {kind}") from None
    return elements // block * size


def read_gguf_header(path: Path) -> GGUFHeader:
    """The metadata (arrays skipped) and the tensors' extent; EdgeQAError on a malformed file."""
    size = path.stat().st_size
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
        reader = _Reader(buffer, size)
        if reader.take(4) != b"GGUF":
            raise EdgeQAError("bad magic")
        version, tensor_count, kv_count = reader.unpack("I"), reader.unpack("Q"), reader.unpack("Q")
        metadata: dict[str, Any] = {}
        for _ in range(kv_count):
            key = reader.string()
            metadata[key] = reader.value(reader.unpack("I"))
        extent = parameters = 0
        for _ in range(tensor_count):
            reader.string()  # name
            elements = 1
            for _ in range(reader.unpack("I")):
                elements *= reader.unpack("Q")
            kind, offset = reader.unpack("I"), reader.unpack("Q")
            extent = max(extent, offset + _tensor_bytes(kind, elements))
            parameters += elements
        alignment = metadata.get("general.alignment", 32)
        data_start = -(-reader.pos // alignment) * alignment
    return GGUFHeader(version, metadata, tensor_count, data_start + extent if tensor_count else 0, parameters)
