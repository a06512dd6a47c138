"""The prompt cache: a context decoded once serves later groups, with the same answers."""

import pytest

from edgeqa.data.squad import load_squad
from edgeqa.runtime.engine import QAEngine
from edgeqa.runtime.engine_config import EngineConfig
from tests.conftest import ASSETS


@pytest.fixture(scope="module")
def paragraph():
    examples = load_squad(ASSETS / "squad_v2_tiny.json")
    return [e for e in examples if e.context == examples[0].context][:4]


def answers(engine, examples, one_by_one=True):
    contexts = [e.context for e in examples]
    prompts = [engine.qa_prompt(e.context, e.question) for e in examples]
    if one_by_one:
        return [engine.generate_group([p], [c])[0].text for p, c in zip(prompts, contexts, strict=True)]
    return [g.text for g in engine.generate_group(prompts, contexts)]


def test_later_questions_on_a_context_reuse_its_cells_and_answer_the_same(embedded_f16, paragraph):
    other = load_squad(ASSETS / "squad_v2_tiny.json")[-1]  # another paragraph between them
    config = EngineConfig(n_ctx=4096, parallel=4, max_answer_tokens=16)
    with (
        QAEngine(embedded_f16, config) as plain,
        QAEngine(embedded_f16, config.__class__(**{**config.__dict__, "prompt_cache": 4})) as cached,
    ):
        expected = answers(plain, [paragraph[0], other, *paragraph[1:]])
        decoded_plain = plain.stats.prompt_tokens_decoded
        got = answers(cached, [paragraph[0], other, *paragraph[1:]])
        assert got == expected
        assert cached.stats.prompt_tokens_cached > 0
        assert cached.stats.prompt_tokens_decoded < decoded_plain
        assert len(cached.prompt_cache.entries) == 2


def test_entries_make_room_for_the_group_and_vanish_when_the_cache_is_cleared(embedded_f16, paragraph):
    config = EngineConfig(n_ctx=1024, parallel=4, max_answer_tokens=16, prompt_cache=2)
    with QAEngine(embedded_f16, config) as engine:
        answers(engine, paragraph[:1])
        assert engine.prompt_cache.entries
        engine.prompt_cache.make_room(0)
        assert not engine.prompt_cache.entries
        answers(engine, paragraph[:2], one_by_one=False)
        engine.sequence_logits(engine.qa_prompt(paragraph[0].context, "Who?"))
        assert not engine.prompt_cache.entries  # cleared with the KV cache


def test_an_entry_evicted_from_the_cells_is_restored_from_ram_with_the_same_answers(embedded_f16, paragraph):
    """One cache sequence and a RAM budget: paragraph A, then another (A's cells go to RAM),
    then A again restores them instead of decoding A, and answers as without any cache."""
    other = load_squad(ASSETS / "squad_v2_tiny.json")[-1]
    order = [paragraph[0], other, paragraph[1]]
    plain_config = EngineConfig(n_ctx=4096, parallel=4, max_answer_tokens=16)
    ram_config = EngineConfig(
        n_ctx=4096, parallel=4, max_answer_tokens=16, prompt_cache=1, prompt_cache_ram_mib=64
    )
    with QAEngine(embedded_f16, plain_config) as plain, QAEngine(embedded_f16, ram_config) as cached:
        expected = answers(plain, order)
        got = answers(cached, order)
        stats = cached.prompt_cache.stats
        assert got == expected
        assert stats.ram_hits == 1 and stats.restored_tokens > 100
        assert cached.stats.prompt_tokens_decoded < plain.stats.prompt_tokens_decoded
        assert 0 < stats.ram_bytes <= 64 * 2**20 and stats.ram_entries == 1  # the other paragraph now


def test_the_ram_tier_keeps_to_its_budget_least_recently_used_out():
    from edgeqa.runtime.prompt_cache import CacheStats, RamTier

    stats = CacheStats()
    tier = RamTier(budget=250, stats=stats)
    tokens = [list(range(i, i + 40)) for i in (0, 100, 200)]
    for held in tokens:
        tier.put(held, b"x" * 100)
    assert stats.ram_entries == 2 and stats.ram_bytes == 200  # the oldest went
    assert tier.best(tokens[0]) is None and tier.best(tokens[2] + [7, 8])[1] == 40
    assert tier.best(tokens[1][:31]) is None  # under MIN_TOKENS shared: not worth restoring
    tier.put(list(range(500, 540)), b"y" * 300)  # larger than the whole budget: not kept
    assert stats.ram_entries == 2
