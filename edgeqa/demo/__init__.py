"""The Gradio demo: the same engine and prompt as `edgeqa eval`, one answer at a time, streamed."""
