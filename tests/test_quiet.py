"""Commands print their own lines, not the libraries' import-time noise (issue: export noise)."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # each case starts a Python process


def _output(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, check=True
    )
    return result.stderr + result.stdout


def test_bitsandbytes_import_noise_is_silenced_by_the_cli():
    pytest.importorskip("bitsandbytes", reason="bitsandbytes is not installed (the qlora extra)")
    if "Failed to load" not in _output("import bitsandbytes"):
        pytest.skip("bitsandbytes imports without its 'Failed to load' noise here: nothing to silence")
    assert "Failed to load" not in _output(
        "from edgeqa.cli import quiet_libraries; quiet_libraries(); import bitsandbytes"
    )


def test_transformers_future_warnings_are_silenced_by_the_cli():
    warn = (
        "import warnings; warnings.warn_explicit('old API', FutureWarning, 'modeling_utils.py', 1, "
        "module='transformers.modeling_utils')"
    )
    assert "old API" in _output(warn)  # shown without edgeqa's filter, so the check below can fail
    assert "old API" not in _output(f"from edgeqa.cli import quiet_libraries; quiet_libraries(); {warn}")
