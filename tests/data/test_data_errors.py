"""Data and model paths that point the wrong way get a line that says which way."""

import pytest

from edgeqa.data.instructions import read_records
from edgeqa.data.sources import DataSource
from edgeqa.data.squad import load_squad
from edgeqa.errors import EdgeQAError
from edgeqa.models.gguf_info import read_gguf_info


@pytest.mark.parametrize("load", [load_squad, read_records])
def test_a_folder_as_data_is_named_a_folder(tmp_path, load):
    with pytest.raises(EdgeQAError, match=r"is a folder; name a SQuAD \.json or \.jsonl file"):
        load(str(tmp_path))


def test_options_without_a_source_are_named_so():
    with pytest.raises(EdgeQAError, match="names no file or hub id"):
        DataSource.parse(":count=5")


def test_a_folder_as_model_is_named_a_folder(tmp_path):
    with pytest.raises(EdgeQAError, match="is a folder, not a GGUF file"):
        read_gguf_info(tmp_path)


def test_split_on_a_local_file_is_refused(squad_tiny):
    from edgeqa.evaluation.eval_command import EvalArgs

    with pytest.raises(EdgeQAError, match="--split train: applies to hub data sets"):
        EvalArgs(data=str(squad_tiny), split="train").questions()
