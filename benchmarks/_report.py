"""What every benchmark does with its numbers: print them and write them to results/ as JSON and
as a two-column Markdown table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def write_results(
    stem: str,
    result: Any,
    table_skips: tuple[str, ...] = (),
    markdown: str | None = None,
    folder: Path = RESULTS,
) -> None:
    """<folder>/<stem>.json (everything) and <stem>.md: `markdown` when the script makes its own
    tables, else the keys not ending in `table_skips` as a two-column table. `folder` is
    results/ but for a trial run (the tests run scripts on tiny inputs elsewhere)."""
    folder.mkdir(exist_ok=True)
    (folder / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    if markdown is None:
        skips = table_skips or ("\0",)
        rows = "\n".join(f"| {k} | {v} |" for k, v in result.items() if not k.endswith(skips))
        markdown = f"| metric | value |\n|---|---|\n{rows}\n"
    (folder / f"{stem}.md").write_text(markdown)
    print(markdown)
