"""A Hugging Face tokenizer's chat template turned into tokens: the prompt (rendered with
edgeqa's fixed template date, with the vocabulary's BOS when the template writes none) and the
token that ends an assistant turn. Training, the export's checks and the transformers baseline
all render here, as llama.cpp's side does in `runtime.engine`, so the two cannot drift."""

from __future__ import annotations

import functools

from edgeqa.errors import EdgeQAError
from edgeqa.prompts import TEMPLATE_DATE

_PROBE = "edgeqa-probe-reply"


@functools.lru_cache(maxsize=8)
def end_of_turn_id(tokenizer) -> int:
    """The token that ends the assistant's turn: what llama.cpp stops on after export.

    Read from the chat template (the first token it renders after an assistant reply), not from
    `eos_token_id`: for the same GGUF, transformers 5.17 reports `<|im_start|>` as SmolLM2's EOS
    and 5.23 `<|im_end|>`, and a model trained to end on the wrong one never stops."""
    probe = [{"role": "user", "content": "q"}, {"role": "assistant", "content": _PROBE}]
    rendered = render_chat(tokenizer, probe)
    after = rendered[rendered.index(_PROBE) + len(_PROBE) :]
    ids = tokenizer(after, add_special_tokens=False)["input_ids"] if after.strip() else []
    control = set(tokenizer.all_special_ids) | set(tokenizer.get_added_vocab().values())
    if ids and ids[0] in control:  # a control token such as <|im_end|> or <|eot_id|>
        return ids[0]
    if tokenizer.eos_token_id is None:
        raise EdgeQAError("the tokenizer's chat template ends no assistant turn and it has no EOS token")
    return tokenizer.eos_token_id


def render_chat(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    """The messages as text, by the tokenizer's chat template, with edgeqa's template date."""
    return tokenizer.apply_chat_template(
        messages, add_generation_prompt=add_generation_prompt, tokenize=False, date_string=TEMPLATE_DATE
    )


def with_bos(tokenizer, ids: list[int]) -> list[int]:
    """`ids` led by BOS when the tokenizer adds one and the template did not write it (TinyLlama's
    template has none; Llama 2's and 3's write it themselves), as llama.cpp does at inference."""
    bos = tokenizer.bos_token_id
    return [bos, *ids] if _adds_bos(tokenizer) and ids[:1] != [bos] else ids


@functools.lru_cache(maxsize=8)
def _adds_bos(tokenizer) -> bool:
    bos = tokenizer.bos_token_id
    return bos is not None and tokenizer("a")["input_ids"][:1] == [bos]


def prompt_ids(tokenizer, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of the prompt up to the assistant's reply."""
    text = render_chat(tokenizer, messages, add_generation_prompt=True)
    return with_bos(tokenizer, tokenizer(text, add_special_tokens=False)["input_ids"])
