"""The llama.cpp runtime: load a GGUF once, answer questions in prefix-sharing batches."""
