"""The examples in docs/python.md run as written, on the shipped reader."""

import re

import pytest

from tests.helpers import REPO


def examples() -> list[str]:
    page = (REPO / "docs" / "python.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)


def test_the_documented_example_runs(shipped_reader, capsys):
    exec(compile(examples()[0], "docs/python.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert "Eiffel" in printed[0]
    assert printed[-2].startswith("True True")  # the unanswerable question abstains
    assert "Paris" in printed[-1]


def test_the_documented_haystack_pipeline_runs(shipped_reader, monkeypatch):
    monkeypatch.setenv("HAYSTACK_TELEMETRY_ENABLED", "False")
    pytest.importorskip("haystack", reason="the haystack extra is not installed")
    (example,) = [block for block in examples() if "EdgeQAReader" in block]
    scope: dict = {}
    exec(compile(example, "docs/python.md", "exec"), scope)
    assert "Eiffel" in scope["answers"][0].data and scope["answers"][-1].data is None
