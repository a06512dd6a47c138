"""Does a whole document read as surely as its paragraphs when its paragraphs are one a line?

Text copied from a web page or Wikipedia into a .txt has no blank lines: one paragraph a line.
For answerable questions of one dev article, each asked against its paragraph, against the
whole article (paragraphs joined by blank lines, as `--context article` does) and against the
same article with single newlines: how often the reader answers from the paragraph but abstains
on the document, its abstention rate, and how many answers equal a gold answer.

usage: python benchmarks/research/line_paragraphs.py <squad-v2-dev.json> [--article Warsaw]
       [--questions 40] [--stem line_paragraphs]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks._report import write_results
from edgeqa import Reader
from edgeqa.data.squad import as_articles, load_squad


def summary(name: str, examples, paragraph_answers, answers, windows: int) -> dict[str, Any]:
    flipped = sum(
        1 for p, a in zip(paragraph_answers, answers, strict=True) if not p.abstained and a.abstained
    )
    return {
        "context": name,
        "windows": windows,
        "answered_on_paragraph_abstained_here": flipped,
        "abstain_rate": round(sum(a.abstained for a in answers) / len(answers), 3),
        "gold_answers": sum(a.text in e.answers for a, e in zip(answers, examples, strict=True)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--article", default="Warsaw")
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--stem", default="line_paragraphs")
    args = parser.parse_args()

    loaded = [e for e in load_squad(args.data) if e.title == args.article]
    articles = {e.qid: e.context for e in as_articles(loaded)}
    examples = [e for e in loaded if e.answers]
    random.Random(0).shuffle(examples)
    examples = examples[: args.questions]
    ways = {
        "paragraph": [e.context for e in examples],
        "article, blank lines": [articles[e.qid] for e in examples],
        "article, one paragraph a line": [articles[e.qid].replace("\n\n", "\n") for e in examples],
    }
    rows = []
    with Reader("smollm2-135m-squad", threads=2) as reader:
        found = {
            name: reader.answer_many([(e.question, c) for e, c in zip(examples, contexts, strict=True)])
            for name, contexts in ways.items()
        }
        for name, contexts in ways.items():
            rows.append(
                summary(name, examples, found["paragraph"], found[name], len(reader.split(contexts[0])))
            )
    lines = [
        "| context | windows | answered on the paragraph, abstained here | abstain rate | gold answers |"
    ]
    lines.append("|---|---|---|---|---|")
    lines += ["| " + " | ".join(str(value) for value in row.values()) + " |" for row in rows]
    write_results(
        args.stem,
        {"article": args.article, "questions": len(examples), "rows": rows},
        markdown="\n".join(lines) + "\n",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
