"""The example in docs/python.md runs as written, on the shipped reader."""

import re

from tests.helpers import REPO


def test_the_documented_example_runs(shipped_reader, capsys):
    page = (REPO / "docs" / "python.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)
    exec(compile(example, "docs/python.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert "Eiffel" in printed[0]
    assert printed[-2].startswith("True True")  # the unanswerable question abstains
    assert "Paris" in printed[-1]
