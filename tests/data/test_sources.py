import re

import pytest

from edgeqa.data.sources import DataSource, load_sources, take_paragraphs
from edgeqa.data.squad import load_squad
from edgeqa.errors import EdgeQAError
from tests.conftest import ASSETS

TRAIN = ASSETS / "squad_v1_train_tiny.json"
DEV = ASSETS / "squad_v2_tiny.json"


def test_spec_options_are_parsed():
    assert DataSource.parse("squad.json") == DataSource("squad.json")
    assert DataSource.parse("rajpurkar/squad:count=200,role=train") == DataSource(
        "rajpurkar/squad", count=200, role="train"
    )
    assert DataSource.parse("a/b.json:share=0.5").share == 0.5


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("a.json:count=x", "whole number"),
        ("a.json:size=3", "unknown option 'size'"),
        ("a.json:role=dev", "role must be one of"),
        ("a.json:share=1.5", "share in (0, 1]"),
        ("a.json:count=2,share=0.5", "not both"),
    ],
)
def test_bad_specs_get_one_line_naming_the_spec(spec, complaint):
    with pytest.raises(EdgeQAError, match=re.escape(complaint)) as error:
        DataSource.parse(spec)
    assert spec in str(error.value)


def test_take_paragraphs_keeps_whole_paragraphs_in_document_order():
    examples = load_squad(TRAIN)
    taken = take_paragraphs(examples, 15, seed=3)
    contexts = {e.context for e in taken}
    assert len(taken) >= 15
    assert taken == [e for e in examples if e.context in contexts]  # whole paragraphs, in order
    assert take_paragraphs(examples, 15, seed=3) == taken  # seeded
    assert take_paragraphs(examples, 15, seed=4) != taken


def test_sources_with_roles_and_counts_are_recorded(tmp_path):
    loaded = load_sources([f"{TRAIN}:count=20,role=train", f"{DEV}:role=val"], (0.8, 0.2, 0.0), seed=0)
    assert {e.context for e in loaded.train} <= {e.context for e in load_squad(TRAIN)}
    assert loaded.val == load_squad(DEV) and loaded.test == []
    first, second = loaded.records
    assert first["questions_in_source"] == 59 and first["questions_taken"] == len(loaded.train) >= 20
    assert first["train"] == len(loaded.train) and first["val"] == 0
    assert len(first["sha256"]) == 64 and second["role"] == "val" and second["val"] == 31


def test_a_split_source_is_split_by_article():
    loaded = load_sources([str(TRAIN)], (0.5, 0.5, 0.0), seed=0)
    assert {e.title for e in loaded.train}.isdisjoint({e.title for e in loaded.val})
    assert len(loaded.train) + len(loaded.val) == 59


def test_skip_takes_the_paragraphs_an_earlier_count_left():
    examples = load_squad(TRAIN)
    first = take_paragraphs(examples, 15, seed=3)
    later = take_paragraphs(examples, 15, seed=3, skip=15)
    assert len(later) >= 15
    assert {e.context for e in first}.isdisjoint({e.context for e in later})
    both = take_paragraphs(examples, len(first) + len(later), seed=3)  # the same walk, further on
    assert {e.context for e in first} | {e.context for e in later} <= {e.context for e in both}
    assert DataSource.parse("a.json:count=5,skip=10").skip == 10
    with pytest.raises(EdgeQAError, match="skip >= 0"):
        DataSource.parse("a.json:skip=-1")
