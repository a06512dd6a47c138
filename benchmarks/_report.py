"""What every benchmark does with its numbers: print them and write them to results/ as JSON and
as a two-column Markdown table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def write_results(stem: str, result: dict[str, Any], table_skips: tuple[str, ...] = ()) -> None:
    """results/<stem>.json (everything) and results/<stem>.md (keys not ending in `table_skips`)."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = "\n".join(f"| {k} | {v} |" for k, v in result.items() if not k.endswith(table_skips or ("\0",)))
    (RESULTS / f"{stem}.md").write_text(f"| metric | value |\n|---|---|\n{rows}\n")
    print(json.dumps(result, indent=2))
