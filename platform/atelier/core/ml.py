"""ml_core's configuration, built once from Django settings (ml_core itself reads no environment)."""
from pathlib import Path

from django.conf import settings
from ml_core.config import MLConfig


def ml_config() -> MLConfig:
    defaults = MLConfig()
    return MLConfig(
        clip_model=settings.ATELIER_CLIP_MODEL,
        demo_weights_dir=Path(settings.ATELIER_CLIP_DEMO_DIR).expanduser() if settings.ATELIER_CLIP_DEMO_DIR else defaults.demo_weights_dir,
        device=settings.ATELIER_DEVICE or None,
        torch_threads=settings.ATELIER_TORCH_THREADS,
    )
