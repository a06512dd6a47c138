"""Knowing models: the embedded default, local GGUF files, and what their metadata says."""
