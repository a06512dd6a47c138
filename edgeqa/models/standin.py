"""Tiny random stand-ins for the Llama families, with each family's real tokenizer and chat template.

Why: a Llama 3 or Llama 2 user's path through edgeqa differs from SmolLM2's in the tokenizer
(128K byte-level BPE / 32K SentencePiece with byte fallback), the template (a date in Llama 3's
system header, `[INST]`, `<|user|>`), the stop tokens and the shape (tied embeddings, `llama3`
RoPE scaling, grouped-query attention). A stand-in keeps every one of those and is random
elsewhere, so every stage can run on it in seconds, offline, with nothing from the hub.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError
from edgeqa.models import family_templates
from edgeqa.models.tokenizer_sources import TokenizerSources, fetch_tokenizer_sources

EMBEDDED_VOCAB = "embedded"  # SmolLM2's tokenizer, read from the embedded GGUF (no fetching)
LLAMA3_IMAGE_TOKEN = 128256  # the 3.2 vision models' <|image|>; the text models stop at 128,255


@dataclass(frozen=True)
class Family:
    """What a family's models share: vocabulary, template, special tokens and shape."""

    vocab: str  # llama.cpp's vocabulary GGUF (llama-bpe, llama-spm), or the embedded model's
    template: str | None  # None: the tokenizer's own
    eos_token: str | None  # what the instruction-tuned model ends a reply with (None: its own)
    shape: dict[str, Any] = field(default_factory=dict)  # LlamaConfig fields beyond the tiny sizes
    describes: str = ""


FAMILIES: dict[str, Family] = {
    "smollm2": Family(
        EMBEDDED_VOCAB,
        None,
        None,
        {"num_key_value_heads": 2, "tie_word_embeddings": True, "max_position_embeddings": 1024},
        "SmolLM2 (the embedded model's tokenizer and ChatML template, tied embeddings, GQA)",
    ),
    "llama3": Family(
        "llama-bpe",
        family_templates.LLAMA3,
        "<|eot_id|>",
        {
            "num_key_value_heads": 2,
            "tie_word_embeddings": True,
            "rope_theta": 500000.0,
            # Llama 3.2's scaling (factor 32 over 8,192) scaled down to a context a CPU test reaches
            "rope_scaling": {
                "rope_type": "llama3",
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 256,
            },
            "max_position_embeddings": 2048,
            "bos_token_id": 128000,
            "eos_token_id": [128001, 128008, 128009],
        },
        "Llama 3.x (3.2 1B/3B: tied embeddings, llama3 RoPE scaling, GQA)",
    ),
    "llama2": Family(
        "llama-spm",
        family_templates.LLAMA2,
        "</s>",
        {"num_key_value_heads": 4, "max_position_embeddings": 4096, "bos_token_id": 1, "eos_token_id": 2},
        "Llama 2 chat ([INST], multi-head attention)",
    ),
    "tinyllama": Family(
        "llama-spm",
        family_templates.TINYLLAMA,
        "</s>",
        {"num_key_value_heads": 2, "max_position_embeddings": 2048, "bos_token_id": 1, "eos_token_id": 2},
        "TinyLlama 1.1B chat (Llama 2 vocabulary, <|user|> template, GQA)",
    ),
}


def _llama3_tokenizer(sources: TokenizerSources, folder: Path) -> None:
    """Llama 3.2's tokenizer as the text models have it: without the vision models' <|image|>,
    and with `ignore_merges` (a word in the vocabulary is one token, as in Meta's current
    tokenizer.json; the packaged copy predates the flag and splits e.g. " Việt")."""
    tokenizer = json.loads((sources.llama3_tokenizer / "tokenizer.json").read_text(encoding="utf-8"))
    tokenizer["added_tokens"] = [t for t in tokenizer["added_tokens"] if t["id"] < LLAMA3_IMAGE_TOKEN]
    tokenizer["model"]["ignore_merges"] = True
    config = json.loads((sources.llama3_tokenizer / "tokenizer_config.json").read_text(encoding="utf-8"))
    decoder = config["added_tokens_decoder"]
    config["added_tokens_decoder"] = {k: v for k, v in decoder.items() if int(k) < LLAMA3_IMAGE_TOKEN}
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")


def _sentencepiece_model(vocab_gguf: Path) -> bytes:
    """Llama 2's tokenizer.model rebuilt from llama.cpp's vocabulary GGUF: the same pieces,
    scores and types, a BPE model with byte fallback and a dummy prefix, as Meta trained it."""
    import gguf
    from sentencepiece import sentencepiece_model_pb2 as spm_pb

    fields = gguf.GGUFReader(str(vocab_gguf)).fields

    def column(key: str) -> list:
        f = fields[key]
        return [f.parts[i] for i in f.data]

    pieces = [bytes(p).decode("utf-8") for p in column("tokenizer.ggml.tokens")]
    scores = [float(p[0]) for p in column("tokenizer.ggml.scores")]
    types = [int(p[0]) for p in column("tokenizer.ggml.token_type")]
    piece_type = spm_pb.ModelProto.SentencePiece
    by_gguf_type = {1: piece_type.NORMAL, 2: piece_type.UNKNOWN, 3: piece_type.CONTROL, 6: piece_type.BYTE}
    model = spm_pb.ModelProto()
    model.trainer_spec.model_type = spm_pb.TrainerSpec.BPE
    model.trainer_spec.vocab_size = len(pieces)
    model.trainer_spec.byte_fallback = True
    model.trainer_spec.unk_id, model.trainer_spec.bos_id, model.trainer_spec.eos_id = 0, 1, 2
    model.trainer_spec.pad_id = -1
    model.normalizer_spec.name = "identity"
    model.normalizer_spec.add_dummy_prefix = True
    model.normalizer_spec.remove_extra_whitespaces = False
    model.normalizer_spec.escape_whitespaces = True
    for text, score, kind in zip(pieces, scores, types, strict=True):
        piece = model.pieces.add()
        piece.piece, piece.score, piece.type = text, score, by_gguf_type[kind]
    return model.SerializeToString()


def _spm_tokenizer(sources: TokenizerSources, folder: Path) -> None:
    """tokenizer.model plus the tokenizer.json transformers converts it to, as hub repos ship."""
    from transformers import AutoTokenizer

    (folder / "tokenizer.model").write_bytes(_sentencepiece_model(sources.vocab_gguf("llama-spm")))
    AutoTokenizer.from_pretrained(str(folder)).save_pretrained(str(folder))
    tokenizer_path = folder / "tokenizer.json"
    tokenizer = json.loads(tokenizer_path.read_text(encoding="utf-8"))
    bos = {"SpecialToken": {"id": "<s>", "type_id": 0}}
    first, second = {"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}
    tokenizer["post_processor"] = {  # a BOS before every text, as Llama 2's tokenizer.json has it
        "type": "TemplateProcessing",
        "single": [bos, first],
        "pair": [bos, first, bos, second],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}},
    }
    tokenizer_path.write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config.update(add_bos_token=True, add_eos_token=False, bos_token="<s>", unk_token="<unk>")
    config_path.write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")


def _save_tokenizer(family: Family, sources: TokenizerSources | None, folder: Path):
    """The family's tokenizer in `folder`, with its chat template and end-of-reply token."""
    from transformers import AutoTokenizer

    if family.vocab == EMBEDDED_VOCAB:
        from edgeqa.models.registry import embedded_model_path

        gguf = embedded_model_path()
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    else:
        sources = sources or fetch_tokenizer_sources()
        (_llama3_tokenizer if family.vocab == "llama-bpe" else _spm_tokenizer)(sources, folder)
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        tokenizer.chat_template = family.template
        tokenizer.eos_token = family.eos_token
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def build_standin(
    name: str,
    out: Path,
    *,
    hidden_size: int = 64,
    layers: int = 2,
    seed: int = 0,
    sources: TokenizerSources | None = None,
) -> Path:
    """A random `name`-family model saved as a Hugging Face folder at `out` (written whole or
    not at all): a base any `--base` option takes."""
    if name not in FAMILIES:
        raise EdgeQAError(f"unknown model family {name!r}; expected one of {', '.join(FAMILIES)}")
    if out.exists() and any(out.iterdir()):
        raise EdgeQAError(f"{out} already exists and is not empty; choose another --out")
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    family = FAMILIES[name]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}-") as work:
        staging = Path(work)
        tokenizer = _save_tokenizer(family, sources, staging)
        special = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden_size,
            intermediate_size=2 * hidden_size,
            num_hidden_layers=layers,
            num_attention_heads=4,
            **{**special, **family.shape},
        )
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
        model.generation_config = GenerationConfig(
            bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id
        )
        model.save_pretrained(str(staging))
        if out.exists():
            out.rmdir()
        shutil.move(str(staging), str(out))
        staging.mkdir()  # for the context manager to remove
    return out
