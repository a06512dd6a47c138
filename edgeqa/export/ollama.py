"""`export --ollama`: a Modelfile whose prompt and stop tokens are the model's own.

Why from the GGUF and not per family: the stop tokens are whatever llama.cpp's vocabulary marks
as ending a generation (`<|im_end|>` for SmolLM2; `<|eot_id|>`, `<|eom_id|>`, `<|end_of_text|>`
for Llama 3.x; `</s>` for Llama 2), and the TEMPLATE is the GGUF's own chat template rendered
around Ollama's `{{ .System }}` / `{{ .Prompt }}` with edgeqa's template date, so Ollama asks
the model exactly as training, eval and serve do (no clock date in Llama 3's system header).
"""

from __future__ import annotations

from pathlib import Path

from edgeqa.errors import EdgeQAError
from edgeqa.models.gguf_info import read_gguf_info
from edgeqa.prompts import SYSTEM_PROMPT
from edgeqa.runtime.llama_session import CHATML_FALLBACK


def _vocabulary_tokens(path: Path) -> tuple[list[str], str]:
    """(texts of every end-of-generation token, the EOS token's text), read by llama.cpp from
    the vocabulary alone (no weights loaded)."""
    import llama_cpp
    from llama_cpp import _internals
    from llama_cpp._logger import set_verbose

    set_verbose(False)
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    try:
        model = _internals.LlamaModel(path_model=str(path), params=params, verbose=False)
    except ValueError as exc:
        raise EdgeQAError(f"{path}: llama.cpp cannot read this model's vocabulary ({exc})") from None
    try:
        vocab = model.vocab
        count = llama_cpp.llama_vocab_n_tokens(vocab)
        stops = [model.token_get_text(t) for t in range(count) if llama_cpp.llama_vocab_is_eog(vocab, t)]
        eos = llama_cpp.llama_vocab_eos(vocab)
        return stops, model.token_get_text(eos) if eos != -1 else ""
    finally:
        model.close()


def ollama_template(chat_template: str, eos_token: str, date: str) -> str:
    """The chat template rendered around Ollama's placeholders up to the assistant's reply. BOS
    is left out: Ollama adds it when the vocabulary asks for one."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(template=chat_template, eos_token=eos_token, bos_token="")
    messages = [{"role": "system", "content": "{{ .System }}"}, {"role": "user", "content": "{{ .Prompt }}"}]
    return formatter(messages=messages, date_string=date).prompt


def ollama_modelfile(gguf_path: Path) -> str:
    """The Modelfile for `gguf_path`, which it names relative to itself (written beside it)."""
    info = read_gguf_info(gguf_path)
    stops, eos = _vocabulary_tokens(gguf_path)
    template = ollama_template(info.chat_template or CHATML_FALLBACK, eos, info.template_date)
    lines = [f"FROM ./{gguf_path.name}", f'TEMPLATE """{template}"""', "PARAMETER temperature 0"]
    lines += [f'PARAMETER stop "{stop}"' for stop in stops]
    lines.append(f'SYSTEM """{SYSTEM_PROMPT}"""')
    return "\n".join(lines) + "\n"
