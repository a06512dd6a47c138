"""Which SQuAD questions a command answers and where its results go (eval and calibrate)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from edgeqa.data.squad import QAExample
from edgeqa.errors import EdgeQAError
from edgeqa.option_field import OptionSet, option


def slug(text: str) -> str:
    """A folder name from a model or data name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "run"


@dataclass(frozen=True)
class QuestionOptions(OptionSet):
    GROUP = ("questions", "which questions are answered, and where the results go")

    data: str | None = option(metavar="PATH_OR_ID")
    """SQuAD .json (official format), .jsonl, a hub id such as rajpurkar/squad_v2, or bundled (the
    shipped 2-article SQuAD 2.0 sample, also the default)"""
    split: str = "validation"
    """hub split"""
    limit: int | None = option(metavar="N", minimum=1)
    """at most N questions"""
    seed: int | None = None
    """with --limit: a seeded random sample, not the first N"""
    article: tuple[str, ...] = option((), metavar="TITLE")
    """only questions of this article (repeatable)"""
    out: str | None = option(metavar="DIR")
    """output folder (default: runs/<command>/<model>-<data>)"""
    context: str = option("paragraph", choices=("paragraph", "article"))
    """what each question is asked against: its paragraph, or its whole article (every
    paragraph of the article joined: document-level SQuAD, read in windows)"""
    too_long: str = option("window", choices=("window", "skip", "error"))
    """a context longer than one window (--max-seq-len): read it in overlapping windows, skip
    the question (scored as unanswered), or stop with an error"""
    quiet: bool = False
    """no progress bar"""

    def questions(self) -> tuple[str, list[QAExample]]:
        """(data reference, the selected questions)."""
        from edgeqa.data.squad import as_articles, data_reference, load_squad, select_examples

        data = data_reference(self.data)
        if self.split != "validation" and Path(data).is_file():
            raise EdgeQAError(f"--split {self.split}: applies to hub data sets; {data} is a local file")
        loaded = load_squad(data, split=self.split)
        if self.context == "article":
            loaded = as_articles(loaded)
        examples = select_examples(loaded, articles=self.article, limit=self.limit, seed=self.seed)
        return data, examples

    def out_dir(self, command: str, model_part: str, data: str) -> Path:
        if self.out:
            return Path(self.out)
        suffix = "-articles" if self.context == "article" else ""
        suffix += f"-n{self.limit}" if self.limit else ""
        suffix += f"-s{self.seed}" if self.seed is not None and self.limit else ""
        return Path("runs") / command / slug(f"{model_part}-{Path(data).stem}{suffix}")
