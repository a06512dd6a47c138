"""What every benchmark does with its numbers: print them and write them to results/ as JSON and
as a two-column Markdown table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def write_results(
    stem: str, result: Any, table_skips: tuple[str, ...] = (), markdown: str | None = None
) -> None:
    """results/<stem>.json (everything) and results/<stem>.md: `markdown` when the script makes
    its own tables, else the keys not ending in `table_skips` as a two-column table."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    if markdown is None:
        skips = table_skips or ("\0",)
        rows = "\n".join(f"| {k} | {v} |" for k, v in result.items() if not k.endswith(skips))
        markdown = f"| metric | value |\n|---|---|\n{rows}\n"
    (RESULTS / f"{stem}.md").write_text(markdown)
    print(markdown)
