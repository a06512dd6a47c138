"""`edgeqa models list`: every GGUF edgeqa can find, with what its header says."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeqa.errors import EdgeQAError
from edgeqa.option_field import option

DESCRIPTION = "list: show path, size, quant type, architecture, context and chat template of the shipped "
DESCRIPTION += "reader, the embedded model and every GGUF under models/ and export/."
EPILOG = "example: edgeqa models list --dir ~/gguf"


@dataclass(frozen=True)
class ModelsArgs:
    action: str = option("list", positional=True, choices=("list",))
    """list: the GGUFs edgeqa can find"""
    dir: tuple[str, ...] = option((), metavar="DIR")
    """also search this folder (repeatable)"""


ARGS = ModelsArgs


def run(args: ModelsArgs) -> int:
    from edgeqa.models.gguf_info import read_gguf_info
    from edgeqa.models.registry import discover_models, exported_sources

    sources = exported_sources(Path(d) for d in args.dir)
    rows = [["name", "size MiB", "quant", "arch", "ctx", "chat template", "exported from", "path"]]
    for path in discover_models(Path(d) for d in args.dir):
        try:
            info = read_gguf_info(path)
        except EdgeQAError as exc:
            rows.append([path.stem, "-", "unreadable", "-", "-", "-", "-", f"{path} ({exc})"])
            continue
        rows.append(
            [
                info.name,
                f"{info.size_bytes / 2**20:.1f}",
                info.file_type,
                info.architecture,
                str(info.context_length or "-"),
                "yes" if info.chat_template else "no",
                sources.get(path.resolve(), "-"),
                str(path),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0
