"""Writing GGUFs whole: add string keys to a finished one (llama.cpp's converter writes only the
keys it knows), and finish a new one under a temporary name.

Why: a fine-tuned model must be asked the way it learnt (`edgeqa.prompt_layout`). Carried in the
file itself, that reaches eval, the demo and the profiler even for a copied GGUF, and the
quantizer copies every key, so setting it on the reference file is enough. The file is rewritten
(every key and tensor, byte for byte) under a temporary name and renamed when whole.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgeqa.errors import EdgeQAError

_READER_ONLY_PREFIX = "GGUF."  # version and counts: the reader's view of the header, not keys
_ALIGNMENT_KEY = "general.alignment"


def add_string_metadata(path: Path, values: dict[str, str]) -> None:
    """Rewrite `path` with `values` added (replacing keys of the same name)."""
    from gguf import GGUFReader

    reader = GGUFReader(path)
    temporary = path.with_name(f".{path.name}.partial")
    writer = writer_like(reader, temporary, values)
    try:
        for tensor in reader.tensors:
            copy_tensor(writer, tensor)
    except BaseException:
        writer.close()
        temporary.unlink(missing_ok=True)
        raise
    write_gguf(writer, temporary)
    del reader  # release its memory map before the file is replaced
    os.replace(temporary, path)


def writer_like(reader, temporary: Path, values: dict[str, str]):
    """A GGUFWriter to `temporary` with every key of the model GGUF `reader`, `values` added
    (replacing keys of the same name); the caller adds the tensors."""
    from gguf import GGUFWriter

    architecture = reader.get_field("general.architecture")
    if architecture is None:
        raise EdgeQAError(f"{reader.data.filename}: not a model GGUF (no general.architecture)")
    writer = GGUFWriter(temporary, architecture.contents(), endianess=reader.endianess)
    copy_fields(reader, writer, skip=set(values))
    for key, value in values.items():
        writer.add_string(key, value)
    return writer


def copy_tensor(writer, tensor) -> None:
    """`tensor` (from a GGUFReader) onto `writer`, byte for byte in its own type."""
    writer.add_tensor(tensor.name, tensor.data, raw_shape=tensor.data.shape, raw_dtype=tensor.tensor_type)


def copy_fields(reader, writer, skip: set[str]) -> None:
    """Every key of `reader` onto `writer` (alignment included) but those in `skip`."""
    from gguf import GGUFValueType

    for key, field in reader.fields.items():
        if key.startswith(_READER_ONLY_PREFIX) or key == "general.architecture" or key in skip:
            continue
        if key == _ALIGNMENT_KEY:
            writer.add_custom_alignment(field.contents())
            continue
        kind = field.types[0]
        sub_type = field.types[-1] if kind == GGUFValueType.ARRAY and len(field.types) > 1 else None
        writer.add_key_value(key, field.contents(), kind, sub_type=sub_type)


def write_gguf(writer, temporary: Path) -> None:
    """Write `writer`'s header, keys and tensors to its file `temporary`; a failure removes it.
    The caller renames it into place once whole."""
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    except BaseException:
        writer.close()
        temporary.unlink(missing_ok=True)
        raise


def finish_gguf(writer, temporary: Path, target: Path) -> Path:
    """`write_gguf`, then the rename to `target`."""
    write_gguf(writer, temporary)
    os.replace(temporary, target)
    return target
