"""RoPE settings to compare, from a grid file or the built-in preset.

A grid entry names a method and a factor (how far past the trained window to stretch), or
gives llama.cpp's load-time options directly. What llama.cpp can express at load time:

- none: the model as trained (positions past its window are extrapolated);
- linear: position interpolation, freq_scale = 1 / factor;
- yarn: YaRN with freq_scale = 1 / factor over the trained window (orig_ctx), with optional
  extrapolation/attention factors and beta fast/slow;
- ntk: static NTK-aware scaling, a larger frequency base: base * factor^(d / (d - 2)).

The seed's other methods cannot be expressed when a GGUF is loaded: dynamic NTK changes the
base with the current sequence length while decoding; llama3 and LongRoPE rescale each RoPE
frequency with factors that llama.cpp reads from tensors written at conversion time
(rope_freqs / rope_factors_long), not from load-time options.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgeqa.errors import EdgeQAError
from edgeqa.runtime.engine_config import RopeSettings

METHODS = ("none", "linear", "yarn", "ntk")
NOT_EXPRESSIBLE = {
    "dynamic-ntk": "it changes the RoPE base with the current length; llama.cpp fixes it at load",
    "llama3": "its per-frequency factors come from a rope_freqs tensor written at conversion time",
    "longrope": "its per-dimension factors come from rope_factors tensors written at conversion time",
}
RAW_OPTIONS = tuple(f for f in RopeSettings.__dataclass_fields__ if f != "scaling")
PRESET = [
    {"method": "none"},
    {"method": "linear", "factor": 2},
    {"method": "linear", "factor": 4},
    {"method": "yarn", "factor": 2},
    {"method": "yarn", "factor": 4},
    {"method": "ntk", "factor": 2},
    {"method": "ntk", "factor": 4},
]


@dataclass(frozen=True)
class GridSetting:
    name: str
    method: str
    factor: float
    rope: RopeSettings
    contexts: tuple[int, ...] = ()  # only these lengths; empty: every --ctx

    def runs_at(self, n_ctx: int) -> bool:
        return not self.contexts or n_ctx in self.contexts

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "method": self.method, "factor": self.factor, "rope": asdict(self.rope)}


def build_setting(entry: dict[str, Any], trained_ctx: int, freq_base: float, rope_dims: int) -> GridSetting:
    """One grid entry as llama.cpp options, for a model with the given trained window and RoPE."""
    entry = dict(entry)
    method = str(entry.pop("method", "none")).lower()
    if method in NOT_EXPRESSIBLE:
        raise EdgeQAError(
            f"grid: {method} cannot be set when llama.cpp loads a GGUF: {NOT_EXPRESSIBLE[method]}"
        )
    if method not in METHODS:
        raise EdgeQAError(f"grid: unknown method {method!r} (valid: {', '.join(METHODS)})")
    factor = float(entry.pop("factor", 1))
    if factor < 1:
        raise EdgeQAError(f"grid: factor must be at least 1, got {factor}")
    name = str(entry.pop("name", method if method == "none" else f"{method} x{factor:g}"))
    contexts = entry.pop("contexts", [])
    if not isinstance(contexts, list) or not all(isinstance(c, int) and c > 0 for c in contexts):
        raise EdgeQAError(f"grid: {name}: contexts must be a list of token counts")
    unknown = sorted(set(entry) - set(RAW_OPTIONS))
    if unknown:
        raise EdgeQAError(
            f"grid: unknown option {unknown[0]!r} (valid: name, method, factor, {', '.join(RAW_OPTIONS)})"
        )
    options: dict[str, Any] = {"scaling": "none"}
    if method == "linear":
        options.update(scaling="linear", freq_scale=1 / factor)
    elif method == "yarn":
        options.update(scaling="yarn", freq_scale=1 / factor, yarn_orig_ctx=trained_ctx)
    elif method == "ntk":
        options.update(freq_base=freq_base * factor ** (rope_dims / (rope_dims - 2)))
    options.update(entry)  # raw llama.cpp options override the method's defaults
    return GridSetting(name, method, factor, RopeSettings(**options), tuple(contexts))


def load_grid(path: Path | None) -> list[dict[str, Any]]:
    """Grid entries from a YAML file (`settings: [...]`), or the built-in preset."""
    if path is None:
        return [dict(entry) for entry in PRESET]
    from edgeqa.fileio import read_yaml

    loaded = read_yaml(path, "grid")
    settings = loaded.get("settings") if isinstance(loaded, dict) else None
    if not isinstance(settings, list) or not all(isinstance(e, dict) for e in settings) or not settings:
        raise EdgeQAError(f"{path}: expected `settings:` followed by a list of mappings")
    return settings
