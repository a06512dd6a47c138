"""Which token ends an assistant turn in a Hugging Face tokenizer's chat template: what training
teaches the model to stop on and what transformers generation stops on when profiled, so both
stages read it here."""

from __future__ import annotations

import functools

from edgeqa.errors import EdgeQAError

_PROBE = "edgeqa-probe-reply"


@functools.lru_cache(maxsize=8)
def end_of_turn_id(tokenizer) -> int:
    """The token that ends the assistant's turn: what llama.cpp stops on after export.

    Read from the chat template (the first token it renders after an assistant reply), not from
    `eos_token_id`: for the same GGUF, transformers 5.17 reports `<|im_start|>` as SmolLM2's EOS
    and 5.23 `<|im_end|>`, and a model trained to end on the wrong one never stops."""
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": _PROBE}], tokenize=False
    )
    after = rendered[rendered.index(_PROBE) + len(_PROBE) :]
    ids = tokenizer(after, add_special_tokens=False)["input_ids"] if after.strip() else []
    control = set(tokenizer.all_special_ids) | set(tokenizer.get_added_vocab().values())
    if ids and ids[0] in control:  # a control token such as <|im_end|> or <|eot_id|>
        return ids[0]
    if tokenizer.eos_token_id is None:
        raise EdgeQAError("the tokenizer's chat template ends no assistant turn and it has no EOS token")
    return tokenizer.eos_token_id
