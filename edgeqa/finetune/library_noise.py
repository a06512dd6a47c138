"""Quiet the third-party messages a user of `edgeqa finetune` cannot act on.

- bitsandbytes, imported by transformers and peft even for plain LoRA, warns on CPUs with
  AVX512-BF16 that it could not fetch an optional kernel from the hub; edgeqa never downloads
  code at run time, and bitsandbytes falls back to its own CPU kernels.
- peft reads transformers' deprecated `is_gradient_checkpointing` (a FutureWarning every run)
  and, saving the adapter of a GGUF base, notes that the GGUF's folder has no config.json
  (LoRA does not change the vocabulary, which is what it would have checked).
- With --quiet, transformers' weight-loading progress bar goes too.
"""

from __future__ import annotations

import logging
import warnings

BITSANDBYTES_CPU_LOGGER = "bitsandbytes.backends.cpu.ops"


def quiet_training_libraries(show_progress: bool) -> None:
    """Process-wide: call before transformers, peft or bitsandbytes load a model."""
    logging.getLogger(BITSANDBYTES_CPU_LOGGER).setLevel(logging.ERROR)
    warnings.filterwarnings(
        "ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning
    )
    warnings.filterwarnings("ignore", message=r"Could not find a config file in", category=UserWarning)
    if not show_progress:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
