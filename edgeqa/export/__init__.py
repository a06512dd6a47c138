"""Export: merge an adapter, convert to GGUF, quantize with llama.cpp, verify, write a manifest."""
