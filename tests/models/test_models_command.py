"""`edgeqa models list` through the real CLI."""

from tests.helpers import run_cli


def test_models_list_shows_the_embedded_model(tmp_path, embedded_model):
    result = run_cli("models", "list", "--dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert str(embedded_model) in result.stdout
    assert "Q4_1" in result.stdout and "llama" in result.stdout
