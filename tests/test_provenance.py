"""run.json and export manifests: typed, saved and loaded in one place, bad files in one line."""

import pytest

from edgeqa.errors import EdgeQAError
from edgeqa.provenance import ExportManifest, RunRecord


def test_a_run_record_round_trips(tmp_path):
    record = RunRecord(
        path=tmp_path / RunRecord.FILE,
        config={"method": "lora"},
        base={"ref": "embedded"},
        data={"format": "squad", "source": "x.json"},
        metrics={"steps": 3},
    )
    record.save()
    assert RunRecord.exists(tmp_path) and RunRecord.load(tmp_path) == record
    assert record.adapter_dir == tmp_path / "adapter" and record.data_format == "squad"


def test_a_manifest_round_trips_and_finds_its_files(tmp_path):
    manifest = ExportManifest(
        path=tmp_path / "m.manifest.json",
        name="m",
        fingerprint={"out_type": "f16"},
        source={"run": "/somewhere/runs/reader", "base": {"ref": "b.gguf"}},
        files=[{"quant": "f16", "file": "m-F16.gguf"}, {"quant": "q4_k_m", "file": "m-Q4_K_M.gguf"}],
    )
    manifest.save()
    loaded = ExportManifest.load(manifest.path)
    assert loaded == manifest and loaded.file("q4_k_m")["file"] == "m-Q4_K_M.gguf"
    assert loaded.source_label == "reader" and loaded.imatrix == "none"
    with pytest.raises(EdgeQAError, match="holds no q8_0 file"):
        loaded.file("q8_0")


@pytest.mark.parametrize(
    ("content", "complaint"),
    [("{not json", "not valid JSON"), ("[1, 2]", "a JSON object"), ('{"config": {}}', "no 'base'")],
)
def test_a_malformed_run_json_is_one_line_naming_it(tmp_path, content, complaint):
    (tmp_path / "run.json").write_text(content)
    with pytest.raises(EdgeQAError, match=complaint) as error:
        RunRecord.load(tmp_path)
    assert str(tmp_path / "run.json") in str(error.value) and "\n" not in str(error.value)


def test_a_missing_manifest_says_what_was_expected(tmp_path):
    with pytest.raises(EdgeQAError, match=r"no such file \(expected an edgeqa export manifest"):
        ExportManifest.load(tmp_path / "none.manifest.json")
