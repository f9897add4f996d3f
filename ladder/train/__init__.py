"""Training: LoRA fine-tuning (lora.py), distillation (distill.py), DDP (ddp.py), pretraining, and the HF/GGUF bridge (hf.py)."""
