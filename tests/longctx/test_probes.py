from edgeqa.longctx.probes import load_text, memory_estimate_gib, passkey_prompt, passkeys


def _words(text: str) -> list[int]:
    return [hash(w) % 1000 for w in text.split()]  # one token per word, enough to check placement


def test_passkey_prompt_hides_the_key_at_the_depth():
    prompt = passkey_prompt(_words, 400, depth=0.25, key=12345)
    assert 370 <= len(prompt) <= 400
    needle = _words("The pass key is 12345.")
    position = next(i for i in range(len(prompt)) if prompt[i : i + len(needle)] == needle)
    assert 0.15 < position / len(prompt) < 0.35


def test_passkeys_are_seeded_five_digit_numbers():
    assert passkeys(3, seed=1) == passkeys(3, seed=1)
    assert all(10_000 <= key <= 99_999 for key in passkeys(5, seed=2))


def test_default_text_is_the_bundled_paragraphs():
    text = load_text(None)
    assert "Normans" in text and len(text.split()) > 5000


def test_memory_estimate_grows_with_the_context():
    hparams = {
        "block_count": 30,
        "attention.head_count": 9,
        "attention.head_count_kv": 3,
        "embedding_length": 576,
    }
    small, large = (memory_estimate_gib(100 * 2**20, hparams, n, 512) for n in (8192, 32768))
    assert 0.1 < small < large < 4
