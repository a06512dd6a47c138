"""edgeqa: take a small Llama-family model to the edge for extractive question answering."""

__version__ = "0.1.0"
