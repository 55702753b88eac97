"""Training Atelier's own models (``python -m ml_core.train <what>``): a small model-agnostic
``Trainer`` (trainer.py) and one module per model (``clip``: the offline demo CLIP)."""
from .trainer import Trainer, TrainerConfig

__all__ = ["Trainer", "TrainerConfig"]
