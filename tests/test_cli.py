"""The `edgeqa` dispatcher: help, laziness, interrupts."""

import subprocess
import sys

import pytest

from tests.helpers import run_cli

pytestmark = pytest.mark.slow  # every test here runs the CLI in a process or loads a model

FAST = ("--max-answer-tokens", "12")


def test_help_explains_each_command():
    assert "eval" in run_cli("--help").stdout
    help_text = run_cli("eval", *FAST, "--help").stdout
    for option in ("--model", "--data", "--limit", "--seed", "--threads", "--n-ctx", "--batch"):
        assert option in help_text


def test_only_the_chosen_command_is_imported():
    """`edgeqa --help` and `edgeqa models list --help` load no stage but their own."""
    code = (
        "import sys; from edgeqa import cli; cli.build_parser(['models', 'list'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('edgeqa.')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "edgeqa.models.command" in loaded
    for stage in ("finetune", "export", "evaluation", "runtime", "pipeline", "demo", "judge"):
        assert f"edgeqa.{stage}." not in loaded, loaded


def test_every_command_has_help_from_its_fields():
    from edgeqa.cli import COMMANDS

    for name in COMMANDS:
        result = run_cli(name, "--help")
        assert result.returncode == 0, (name, result.stderr)
        assert "show this help message" in result.stdout


@pytest.mark.parametrize(
    ("raised", "said"),
    [
        (KeyboardInterrupt(), "edgeqa: interrupted; run the same command again to resume"),
        (
            KeyboardInterrupt("resume with: edgeqa finetune --resume runs/x"),
            "edgeqa: interrupted; resume with: edgeqa finetune --resume runs/x",
        ),
    ],
)
def test_an_interrupt_exits_130_saying_how_to_resume(monkeypatch, capsys, raised, said):
    from edgeqa import cli
    from edgeqa.finetune import command

    def interrupted(args):
        raise raised

    monkeypatch.setattr(command, "run", interrupted)
    assert cli.main(["finetune"]) == 130
    assert said in capsys.readouterr().err
