"""Commands print their own lines, not the libraries' import-time noise (issue: export noise)."""

import subprocess
import sys


def test_bitsandbytes_import_noise_is_silenced_by_the_cli():
    code = "from edgeqa.cli import quiet_libraries; quiet_libraries(); import bitsandbytes"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Failed to load" not in result.stderr + result.stdout


def test_transformers_future_warnings_are_silenced_by_the_cli():
    code = (
        "import warnings; from edgeqa.cli import quiet_libraries; quiet_libraries(); "
        "warnings.warn_explicit('old API', FutureWarning, 'modeling_utils.py', 1, "
        "module='transformers.modeling_utils')"
    )
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, check=True
    )
    assert "old API" not in result.stderr
