import pytest

from edgeqa.data.splits import split_by_article
from edgeqa.data.squad import BUNDLED_SAMPLE, load_squad, to_official_json
from edgeqa.errors import EdgeQAError


def test_split_keeps_articles_whole_and_is_seeded(squad_tiny):
    examples = load_squad(BUNDLED_SAMPLE) + load_squad(squad_tiny)[-5:]  # 3 articles
    train, val, test = split_by_article(examples, (0.4, 0.3, 0.3), seed=1)
    titles = [{e.title for e in part} for part in (train, val, test)]
    assert all(titles) and not (titles[0] & titles[1] or titles[0] & titles[2] or titles[1] & titles[2])
    assert len(train) + len(val) + len(test) == len(examples)
    assert split_by_article(examples, (0.4, 0.3, 0.3), seed=1) == (train, val, test)


def test_too_few_articles_is_a_clear_error(squad_tiny):
    only_normans = [e for e in load_squad(squad_tiny) if e.title == "Normans"]
    with pytest.raises(EdgeQAError, match="at least 3 articles"):
        split_by_article(only_normans, (0.8, 0.1, 0.1), seed=0)


def test_official_json_round_trip(squad_tiny, tmp_path):
    import json

    examples = load_squad(squad_tiny)
    path = tmp_path / "again.json"
    path.write_text(json.dumps(to_official_json(examples)))
    assert load_squad(path) == examples
