"""edgeqa: take a small Llama-family model to the edge for extractive question answering.

`from edgeqa import Reader, Answer` is cheap: llama.cpp loads when a Reader is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Answer", "Reader", "__version__"]

if TYPE_CHECKING:
    from edgeqa.reader.answer import Answer
    from edgeqa.reader.reader import Reader


def __getattr__(name: str) -> Any:
    if name == "Reader":
        from edgeqa.reader.reader import Reader

        return Reader
    if name == "Answer":
        from edgeqa.reader.answer import Answer

        return Answer
    raise AttributeError(f"module 'edgeqa' has no attribute {name!r}")
