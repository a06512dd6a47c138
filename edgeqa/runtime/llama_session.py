"""One GGUF loaded into llama.cpp with one context: the model (and a LoRA applied at load), its
KV cache and a batch, behind a small public API. QAEngine answers questions on top of it; the
benchmarks time `decode` directly, the part a throughput floor is made of.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgeqa.errors import EdgeQAError
from edgeqa.models.gguf_info import GGUFInfo, read_gguf_info
from edgeqa.runtime.engine_config import ROPE_SCALING_TYPES, EngineConfig, RopeSettings

PREFIX_SEQ = 0  # sequence holding the cached shared prefix; questions use 1..parallel, the
# prompt cache the ids after them

CHATML_FALLBACK = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class LlamaSession:
    """A loaded model and context; use as a context manager to free them promptly."""

    def __init__(self, model_path: str | Path, config: EngineConfig | None = None):
        import llama_cpp
        from llama_cpp import _internals
        from llama_cpp._logger import set_verbose

        self.info = read_gguf_info(model_path)  # a bad file fails here, not in native code
        self.adapter = None
        if self.info.is_adapter:  # a LoRA GGUF: its base is the model, the LoRA applied at load
            self.adapter = self.info
            self.info = adapter_base_info(self.info)
            model_path = self.info.path
        self.config = config = config or EngineConfig()
        self._llama_cpp = llama_cpp
        set_verbose(False)
        model_params = llama_cpp.llama_model_default_params()
        model_params.use_mmap = config.use_mmap
        try:
            self._model = _internals.LlamaModel(
                path_model=str(model_path), params=model_params, verbose=False
            )
        except ValueError as exc:
            raise EdgeQAError(f"{model_path}: llama.cpp cannot load this model ({exc})") from None
        self._lora = None
        if self.adapter is not None:
            self._lora = llama_cpp.llama_adapter_lora_init(self._model.model, str(self.adapter.path).encode())
            if not self._lora:
                self._free_model()
                raise EdgeQAError(f"{self.adapter.path}: llama.cpp cannot apply this LoRA to {model_path}")
        context_params = llama_cpp.llama_context_default_params()
        context_params.n_ctx = config.n_ctx
        context_params.n_batch = config.n_batch
        context_params.n_ubatch = config.n_batch
        context_params.n_seq_max = config.parallel + 1 + config.prompt_cache
        context_params.kv_unified = True
        context_params.n_threads = config.n_threads
        context_params.n_threads_batch = config.n_threads
        _apply_rope(context_params, config.rope)
        try:
            self.context = _internals.LlamaContext(model=self._model, params=context_params, verbose=False)
        except ValueError:
            self._free_model()
            raise EdgeQAError(f"{model_path}: cannot create a context of {config.n_ctx} tokens") from None
        if self._lora is not None:
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(self._lora)
            if llama_cpp.llama_set_adapters_lora(self.context.ctx, adapters, 1, (ctypes.c_float * 1)(1.0)):
                self.close()
                raise EdgeQAError(f"{self.adapter.path}: llama.cpp could not set this LoRA")  # type: ignore[union-attr]
        self._batch = llama_cpp.llama_batch_init(max(config.n_batch, config.parallel), 0, config.parallel + 1)
        self.n_vocab = self._model.n_vocab()
        self.n_ctx_train = self._model.n_ctx_train()
        self.memory = llama_cpp.llama_get_memory(self.context.ctx)
        self.formatter = self._chat_formatter()

    # --- resources -------------------------------------------------------------------------
    def close(self) -> None:
        if getattr(self, "_batch", None) is not None:
            self._llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        self.context.close()
        self._free_model()

    def _free_model(self) -> None:
        if self._lora:
            self._llama_cpp.llama_adapter_lora_free(self._lora)
        self._lora = None
        self._model.close()

    def __enter__(self) -> LlamaSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _chat_formatter(self):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self.info.chat_template
        if template is None:
            import warnings

            warnings.warn(f"{self.info.path}: no chat template in the GGUF; using ChatML", stacklevel=2)
            template = CHATML_FALLBACK
        model = self._model
        bos, eos = model.token_bos(), model.token_eos()
        return Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(eos) if eos != -1 else "",
            bos_token=model.token_get_text(bos) if bos != -1 else "",
        )

    def tokenize(self, text: str, special: bool = True) -> list[int]:
        """Tokens of rendered text; BOS comes from the template, never added twice."""
        return self._model.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def with_bos(self, tokens: list[int]) -> list[int]:
        """`tokens` led by BOS when the vocabulary adds one (add_bos_token) and they lack it."""
        vocab = self._model.vocab
        bos = self._llama_cpp.llama_vocab_bos(vocab)
        wanted = self._llama_cpp.llama_vocab_get_add_bos(vocab) and bos != -1
        return [bos, *tokens] if wanted and tokens[:1] != [bos] else tokens

    def detokenize_bytes(self, token: int) -> bytes:
        """One token's bytes; a multi-byte character may be split across tokens."""
        buffer = ctypes.create_string_buffer(256)
        n = self._llama_cpp.llama_token_to_piece(self._model.vocab, token, buffer, 256, 0, False)
        return buffer.raw[: max(n, 0)]

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self.detokenize_bytes(t) for t in tokens).decode("utf-8", errors="ignore")

    def is_end_of_generation(self, token: int) -> bool:
        return bool(self._llama_cpp.llama_vocab_is_eog(self._model.vocab, token))

    # --- the KV cache and decoding ---------------------------------------------------------
    def clear(self) -> None:
        """Empty the KV cache of every sequence."""
        self._llama_cpp.llama_memory_clear(self.memory, True)

    def remove(self, seq: int, start: int = 0) -> None:
        """Drop sequence `seq`'s cells from position `start` on."""
        self._llama_cpp.llama_memory_seq_rm(self.memory, seq, start, -1)

    def copy(self, source: int, target: int, start: int = -1, end: int = -1) -> None:
        """Give sequence `target` the cells of `source` at positions [start, end) (all by
        default): free in a unified KV cache, where the cells are shared, not duplicated."""
        self._llama_cpp.llama_memory_seq_cp(self.memory, source, target, start, end)

    def save(self, seq: int) -> bytes:
        """Sequence `seq`'s cells as llama.cpp state, to keep in host memory."""
        size = self._llama_cpp.llama_state_seq_get_size(self.context.ctx, seq)
        buffer = (ctypes.c_uint8 * size)()
        written = self._llama_cpp.llama_state_seq_get_data(self.context.ctx, buffer, size, seq)
        return bytes(memoryview(buffer)[:written])

    def restore(self, state: bytes, seq: int) -> bool:
        """Load state saved by `save` into the empty sequence `seq`; False when the KV cache has
        no room for it (nothing is loaded then)."""
        buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
        return self._llama_cpp.llama_state_seq_set_data(self.context.ctx, buffer, len(state), seq) > 0

    def _submit(self, entries: Sequence[tuple[int, int, int, bool]]) -> None:
        """Decode (token, position, seq_id, wants_output) entries in one batch."""
        batch = self._batch
        for i, (token, pos, seq, wanted) in enumerate(entries):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = wanted
        batch.n_tokens = len(entries)
        status = self._llama_cpp.llama_decode(self.context.ctx, batch)
        if status != 0:
            raise EdgeQAError(
                f"llama_decode failed (status {status}): the KV cache is full; raise --n-ctx "
                "or lower --parallel"
            )

    def decode(self, entries: Sequence[tuple[int, int, int, bool]]) -> list[np.ndarray]:
        """Decode (token, position, seq_id, wants_logits) entries; logits of those that want them."""
        self._submit(entries)
        out = []
        for i, (_, _, _, wanted) in enumerate(entries):
            if wanted:
                pointer = self._llama_cpp.llama_get_logits_ith(self.context.ctx, i)
                out.append(np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy())
        return out

    def decode_hidden(self, entries: Sequence[tuple[int, int, int, bool]]) -> list[np.ndarray]:
        """Like decode, but the last layer's normed hidden state of the entries that want output
        instead of logits: of a model cut after layer k (a middle layer of the full one), what a
        no-answer head reads."""
        self._llama_cpp.llama_set_embeddings(self.context.ctx, True)
        try:
            self._submit(entries)
        finally:
            self._llama_cpp.llama_set_embeddings(self.context.ctx, False)
        width = self._model.n_embd()
        out = []
        for i, (_, _, _, wanted) in enumerate(entries):
            if wanted:
                pointer = self._llama_cpp.llama_get_embeddings_ith(self.context.ctx, i)
                out.append(np.ctypeslib.as_array(pointer, shape=(width,)).copy())
        return out

    def decode_chunked(self, entries: list[tuple[int, int, int, bool]]) -> list[np.ndarray]:
        logits: list[np.ndarray] = []
        step = self.config.n_batch
        for start in range(0, len(entries), step):
            logits.extend(self.decode(entries[start : start + step]))
        return logits


def _apply_rope(params, rope: RopeSettings) -> None:
    import llama_cpp

    if rope.scaling not in ROPE_SCALING_TYPES:
        raise EdgeQAError(
            f"RoPE scaling must be one of {', '.join(ROPE_SCALING_TYPES)}, not {rope.scaling!r}"
        )
    params.rope_scaling_type = getattr(llama_cpp, f"LLAMA_ROPE_SCALING_TYPE_{rope.scaling.upper()}")
    params.rope_freq_base = rope.freq_base
    params.rope_freq_scale = rope.freq_scale
    params.yarn_ext_factor = rope.yarn_ext_factor
    params.yarn_attn_factor = rope.yarn_attn_factor
    params.yarn_beta_fast = rope.yarn_beta_fast
    params.yarn_beta_slow = rope.yarn_beta_slow
    params.yarn_orig_ctx = rope.yarn_orig_ctx


def adapter_base_info(adapter: GGUFInfo) -> GGUFInfo:
    """The GGUF a LoRA adapter applies to (its `edgeqa.lora.base`: a path relative to the adapter,
    or a model name), carrying the adapter's prompt layout."""
    import dataclasses

    from edgeqa.models.registry import resolve_model

    if not adapter.adapter_base:
        raise EdgeQAError(
            f"{adapter.path}: a LoRA GGUF that names no base model; export it with edgeqa or load "
            "its base with llama.cpp's --lora"
        )
    relative = adapter.path.parent / adapter.adapter_base
    named = resolve_model(adapter.adapter_base)
    if not relative.is_file() and not named.is_file():
        raise EdgeQAError(
            f"{adapter.path}: its base {adapter.adapter_base!r} is neither a file beside it nor a "
            "model name (embedded, or a shipped reader's)"
        )
    base = read_gguf_info(relative if relative.is_file() else named)
    if base.is_adapter:
        raise EdgeQAError(f"{adapter.path}: its base {base.path} is itself a LoRA adapter")
    return dataclasses.replace(base, prompt_layout=adapter.prompt_layout, template_date=adapter.template_date)
