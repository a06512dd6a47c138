"""Which weights a run starts from, and how to prove it later.

Export must merge the adapter into exactly these weights, so a run records the kind of base
(GGUF file, local HF folder or hub id), where it is, and a fingerprint (sha256 of the files,
or the hub revision).
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError
from edgeqa.fileio import sha256_file, write_failure

WEIGHT_SUFFIXES = (".safetensors", ".bin")


@dataclass(frozen=True)
class BaseModel:
    kind: str  # "gguf" | "hf_dir" | "hub"
    ref: str  # file path, folder path or hub id
    sha256: str | None  # of the GGUF file, or of the HF folder's weight files; None for hub ids

    @property
    def is_gguf(self) -> bool:
        return self.kind == "gguf"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def parameters_before_loading(self) -> int | None:
        """The parameter count, read without loading the weights: a GGUF's header, or an HF
        folder's weight files at 2 bytes a parameter (a bound from above for fp32 files); None
        for a hub id."""
        if self.is_gguf:
            from edgeqa.models.gguf_header import read_gguf_header

            return read_gguf_header(Path(self.ref)).parameters
        if self.kind == "hf_dir":
            return sum(p.stat().st_size for p in Path(self.ref).iterdir() if p.suffix in WEIGHT_SUFFIXES) // 2
        return None


def _folder_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for weights in sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES):
        digest.update(weights.name.encode())
        digest.update(sha256_file(weights).encode())
    return digest.hexdigest()


def resolve_base(base: str) -> BaseModel:
    """'embedded', a .gguf path, an HF folder, or (anything else) a hub id."""
    from edgeqa.models.registry import embedded_model_path

    if base == "embedded":
        path = embedded_model_path()
        return BaseModel("gguf", str(path), sha256_file(path))
    path = Path(base)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise EdgeQAError(f"{path}: base model file not found")
        return BaseModel("gguf", str(path.resolve()), sha256_file(path))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise EdgeQAError(f"{path}: not a Hugging Face model folder (no config.json)")
        return BaseModel("hf_dir", str(path.resolve()), _folder_sha256(path))
    if path.exists() or base.startswith((".", "/")) or base.count("/") != 1:
        raise EdgeQAError(f"{base}: base model not found (expected a .gguf file, an HF folder or a hub id)")
    return BaseModel("hub", base, None)


def load_tokenizer(base: BaseModel, via_twin: bool = True):
    from transformers import AutoTokenizer

    source, extra = _loadable(base, via_twin)
    try:
        return AutoTokenizer.from_pretrained(source, **extra)
    except Exception as exc:  # hub/network/format errors all become one line
        raise EdgeQAError(
            f"{base.ref}: cannot load the tokenizer ({exc.__class__.__name__}: {exc})"
        ) from None


def load_causal_lm(base: BaseModel, dtype, quantization_config=None, device_map=None, via_twin: bool = True):
    """The base as a transformers causal LM; a GGUF through its float32 twin (`hf_twin`) unless
    `via_twin` is False (a GGUF that is not a base, such as a profiled export, gets no twin)."""
    from transformers import AutoModelForCausalLM

    source, kwargs = _loadable(base, via_twin)
    kwargs = {**kwargs, "dtype": dtype}
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        return AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except Exception as exc:
        raise EdgeQAError(
            f"{base.ref}: cannot load the base model ({exc.__class__.__name__}: {exc})"
        ) from None


def _loadable(base: BaseModel, via_twin: bool) -> tuple[str, dict[str, str]]:
    """(what from_pretrained takes, its extra arguments) for this base: a GGUF's twin folder,
    else the base's own folder or hub id. Where the cache cannot be written, or no twin is
    wanted, the GGUF is read in place, slowly."""
    if not base.is_gguf:
        return base.ref, {}
    path = Path(base.ref)
    in_place = (str(path.parent), {"gguf_file": path.name})
    if not via_twin:
        return in_place
    try:
        return str(hf_twin(base)), {}
    except EdgeQAError:
        return in_place


def rebuild_plain(model):
    """The same weights in a freshly built model of the same class.

    A model dequantized from GGUF keeps a GGUF quantizer attached: it refuses save_pretrained
    and transformers' Trainer. A fresh model from its config, given its state dict, has neither.
    """
    import copy

    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):  # the GGUF loader's marker, not a real quantization
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config)
    missing, unexpected = fresh.load_state_dict(model.state_dict(), strict=False)
    real_missing = [k for k in missing if not k.endswith("lm_head.weight")]
    if real_missing or unexpected:
        raise EdgeQAError(f"weights do not fit the model class: {(real_missing or unexpected)[:3]}")
    if getattr(model.config, "tie_word_embeddings", False):
        fresh.tie_weights()
    return fresh


def save_hf_folder(model, tokenizer, folder: Path) -> Path:
    """Write model + tokenizer (with its chat template) as a plain transformers folder. A failed
    write (a full disk: safetensors raises its own error type) is a one-line error naming the
    folder; callers write into a staging folder, so nothing half-written is left as a result."""
    import errno
    import os
    import re

    from safetensors import SafetensorError

    try:
        rebuild_plain(model).save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
    except OSError as exc:
        raise write_failure(folder, exc) from None
    except SafetensorError as exc:  # the OS error is in its text: "IoError(Os { code: 28, ..."
        found = re.search(r"code: (\d+)", str(exc))
        code = int(found[1]) if found else errno.EIO
        raise write_failure(folder, OSError(code, os.strerror(code) if found else str(exc))) from None
    return folder


def hf_twin(base: BaseModel) -> Path:
    """A GGUF base as a plain float32 HF folder, written once in the user cache.

    Why: transformers' GGUF loader takes about 30 s for the embedded 135M model (it parses the
    file twice, every metadata array included), and a quickstart loads its base twice (training,
    export's merge); the folder loads in a second. float32 holds the dequantized values exactly,
    and the folder is keyed by the GGUF's sha256 and the transformers version that dequantized
    it, so the run still records (and export still merges into) the GGUF itself. Loaders that
    take folders only (unsloth) use it too. Raises EdgeQAError, naming the folder, when the cache
    cannot be written."""
    import tempfile

    import torch
    import transformers

    assert base.is_gguf and base.sha256
    from edgeqa.user_cache import cache_dir

    root = cache_dir() / "bases"
    folder = root / f"{Path(base.ref).stem}-{base.sha256[:16]}-tf{transformers.__version__}"
    if (folder / "config.json").is_file():
        return folder
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".twin-", dir=root))
    except OSError as exc:
        raise write_failure(root, exc) from None
    try:
        model = load_causal_lm(base, torch.float32, via_twin=False)
        save_hf_folder(model, load_tokenizer(base, via_twin=False), staging)
        if not folder.exists():  # another process may have finished the same twin first
            staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
