"""Fine-tuning for extractive QA: LoRA/QLoRA with Unsloth on NVIDIA GPUs, transformers + PEFT elsewhere."""
