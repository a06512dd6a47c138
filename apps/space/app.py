"""Hugging Face Space entry point: the edgeqa demo on the embedded SmolLM2-135M (CPU, no network)."""

from edgeqa.demo.app import build_app, default_service

demo = build_app(default_service())

if __name__ == "__main__":
    demo.launch()
