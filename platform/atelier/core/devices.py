"""Which torch device a worker's models run on, and the batch size that suits it (from settings)."""
from django.conf import settings


def worker_device() -> str:
    """settings.ATELIER_DEVICE, else CUDA when present, else CPU."""
    if settings.ATELIER_DEVICE:
        return settings.ATELIER_DEVICE
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def batch_size_for(device, *, override: int = 0) -> int:
    """`override` when set, else the configured batch size of the device's type (cpu, cuda, ...)."""
    if override:
        return override
    kind = str(device).split(":")[0]
    return settings.ATELIER_BATCH_SIZES.get(kind, settings.ATELIER_BATCH_SIZES["cpu"])
