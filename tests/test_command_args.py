"""Commands as dataclasses: flags, help and values come from the fields."""

import argparse
from dataclasses import dataclass

import pytest

from edgeqa.command_args import add_arguments, field_docs, from_namespace, int_list
from edgeqa.errors import EdgeQAError
from edgeqa.option_field import option


@dataclass(frozen=True)
class Shared:
    GROUP = ("shared", "options several commands take")

    threads: int = 2
    """CPU threads"""


@dataclass(frozen=True)
class Example(Shared):
    source: str | None = option(positional=True, nargs="?", metavar="SRC")
    """where from"""
    model: tuple[str, ...] = option((), metavar="GGUF")
    """a model (repeatable)"""
    mode: str = option("fast", choices=("fast", "slow"))
    """how"""
    limit: int | None = None
    """at most this many"""
    quiet: bool = False
    """say less"""


def _parse(*argv: str) -> Example:
    parser = argparse.ArgumentParser()
    add_arguments(parser, Example)
    return from_namespace(Example, parser.parse_args(argv))


def test_fields_become_typed_flags():
    assert _parse() == Example()
    parsed = _parse("x", "--model", "a", "--model", "b", "--limit", "3", "--quiet", "--threads", "4")
    assert parsed == Example(source="x", model=("a", "b"), limit=3, quiet=True, threads=4)


def test_help_comes_from_the_docstrings_with_defaults_and_groups():
    parser = argparse.ArgumentParser()
    add_arguments(parser, Example)
    text = " ".join(parser.format_help().split())
    assert "--model GGUF a model (repeatable)" in text
    assert "--mode {fast,slow} how (default: fast)" in text
    assert "shared: options several commands take --threads THREADS CPU threads (default: 2)" in text
    assert field_docs(Example)["threads"] == "CPU threads"


def test_bad_values_are_argparse_errors(capsys):
    with pytest.raises(SystemExit):
        _parse("--mode", "medium")
    with pytest.raises(SystemExit):
        _parse("--limit", "many")
    assert "invalid choice: 'medium'" in capsys.readouterr().err


def test_int_list_keeps_order_and_drops_repeats():
    assert int_list("--threads", "2,1,2") == [2, 1]


@pytest.mark.parametrize("text", ["", "1,x", "0,2", "-1"])
def test_int_list_refuses_names_the_option(text):
    with pytest.raises(EdgeQAError, match="--ctx: expected comma-separated positive integers"):
        int_list("--ctx", text)
