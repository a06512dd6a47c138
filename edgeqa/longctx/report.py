"""Tables ranked like the seed's (best and mean perplexity per method), passkey accuracy per
length, peak RSS per length, and a heat map."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from edgeqa.fileio import atomic_write_json, atomic_write_text

CSV_COLUMNS = ("setting", "n_ctx", "status", "perplexity", "passkey_accuracy", "peak_rss_mib", "error")


def passkey_accuracy(record: dict[str, Any]) -> float | None:
    trials = sum(p["trials"] for p in record.get("passkey", []))
    return sum(p["hits"] for p in record["passkey"]) / trials if trials else None


def ranking(settings: list[str], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per setting: best and mean perplexity over the lengths where it ran, best first."""
    rows = []
    for name in settings:
        values = [r["perplexity"] for r in records if r["setting"] == name and r.get("perplexity")]
        if values:
            rows.append(
                {
                    "setting": name,
                    "best": min(values),
                    "mean": sum(values) / len(values),
                    "lengths": len(values),
                }
            )
    return sorted(rows, key=lambda row: (row["mean"], row["best"]))


def _cell(record: dict[str, Any] | None, what: str) -> str:
    if record is None:
        return ""
    if record["status"] != "ok":
        return record["status"]
    if what == "perplexity":
        return f"{record['perplexity']:.2f}"
    accuracy = passkey_accuracy(record)
    return "" if accuracy is None else f"{accuracy:.0%}"


def markdown(
    settings: list[str], contexts: list[int], records: list[dict[str, Any]], trained_ctx: int
) -> str:
    index = {(r["setting"], r["n_ctx"]): r for r in records}
    header = "| setting | " + " | ".join(f"{c:,}" for c in contexts) + " |"
    rule = "|---" * (len(contexts) + 1) + "|"
    lines = [
        f"Trained context: {trained_ctx:,} tokens.",
        "",
        "Perplexity (second half of each window):",
        "",
        header,
        rule,
    ]
    lines += [
        f"| {s} | " + " | ".join(_cell(index.get((s, c)), "perplexity") for c in contexts) + " |"
        for s in settings
    ]
    lines += ["", "Passkey retrieval accuracy:", "", header, rule]
    lines += [
        f"| {s} | " + " | ".join(_cell(index.get((s, c)), "passkey") for c in contexts) + " |"
        for s in settings
    ]
    lines += ["", "Ranked by mean perplexity over the lengths (best perplexity beside it):", ""]
    lines += ["| rank | setting | mean | best | lengths |", "|---|---|---|---|---|"]
    lines += [
        f"| {i} | {row['setting']} | {row['mean']:.2f} | {row['best']:.2f} | {row['lengths']} |"
        for i, row in enumerate(ranking(settings, records), start=1)
    ]
    peaks = {
        c: max((r.get("peak_rss_mib") or 0 for r in records if r["n_ctx"] == c), default=0) for c in contexts
    }
    lines += ["", "| context | peak RSS (MiB) |", "|---|---|"]
    lines += [f"| {c:,} | {peaks[c]:.0f} |" for c in contexts]
    failed = [
        f"- {r['setting']} @ {r['n_ctx']}: {r['status']}: {r['error']}"
        for r in records
        if r["status"] != "ok"
    ]
    return "\n".join(lines + (["", *failed] if failed else [])) + "\n"


def heatmap(settings: list[str], contexts: list[int], records: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    index = {(r["setting"], r["n_ctx"]): r for r in records}
    values = np.full((len(settings), len(contexts)), np.nan)
    for i, setting in enumerate(settings):
        for j, n_ctx in enumerate(contexts):
            record = index.get((setting, n_ctx))
            if record and record.get("perplexity"):
                values[i, j] = math.log(record["perplexity"])
    figure, axis = plt.subplots(figsize=(1.6 * len(contexts) + 3, 0.5 * len(settings) + 1.8))
    image = axis.imshow(values, cmap="viridis_r", aspect="auto")
    for i, setting in enumerate(settings):
        for j, n_ctx in enumerate(contexts):
            record = index.get((setting, n_ctx))
            if record is None:
                continue
            text = _cell(record, "perplexity")
            if record["status"] == "ok" and record.get("passkey"):
                text += f"\npasskey {_cell(record, 'passkey')}"
            axis.text(j, i, text, ha="center", va="center", fontsize=7, color="white")
    axis.set_xticks(range(len(contexts)), [f"{c:,}" for c in contexts])
    axis.set_yticks(range(len(settings)), settings)
    axis.set_xlabel("context length (tokens)")
    figure.colorbar(image, label="log perplexity")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(
    settings: list[str], contexts: list[int], records: list[dict[str, Any]], trained_ctx: int, out_dir: Path
) -> list[Path]:
    atomic_write_json(out_dir / "longctx.json", {"trained_ctx": trained_ctx, "configurations": records})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for r in records:
        accuracy = passkey_accuracy(r) if r["status"] == "ok" else None
        writer.writerow(
            [
                r["setting"],
                r["n_ctx"],
                r["status"],
                r.get("perplexity"),
                accuracy,
                r.get("peak_rss_mib"),
                r.get("error", ""),
            ]
        )
    atomic_write_text(out_dir / "longctx.csv", buffer.getvalue())
    atomic_write_text(out_dir / "longctx.md", markdown(settings, contexts, records, trained_ctx))
    heatmap(settings, contexts, records, out_dir / "heatmap.png")
    return [out_dir / name for name in ("longctx.json", "longctx.csv", "longctx.md", "heatmap.png")]
