"""Atelier's CLIP engine: a model registry on top of open_clip and fast, safe embedding.

Pure Python + torch + open_clip (no Django), usable from a notebook::

    from ml_core.clip import get_engine
    engine = get_engine("ViT-B-32/laion2b_s34b_b79k")      # or None: ATELIER_CLIP_MODEL / "demo"
    result = engine.encode_images(["a.jpg", b"...jpeg bytes..."])   # .vectors, .errors, .model_id
    query = engine.encode_text("a dog on the beach")        # unit float32 vector, LRU-cached

Spec forms and model_id forms are documented in ``registry`` and ``weights``.
"""

from . import tower  # noqa: F401  (registers the demo CLIP's image tower with timm)
from .cache import TextEmbeddingCache, text_cache
from .decode import ImageSource, load_image
from .engine import ClipEngine, ImageBatch, ImageEmbeddings
from .errors import ClipError, ImageDecodeError, ModelNotReadyError, ModelSpecError, ModelWeightsError
from .factory import ModelStatus, clear_engines, create_engine, embed_dim_of, get_engine, model_status
from .registry import (
    DEMO_ARCH, ENV_MODEL, ModelSpec, configured_spec, demo_weights_dir, list_architectures,
    resolve_model_spec,
)
from .runtime import available_cpus, configure_threads, pick_device
from .weights import find_weights_in_dir, save_pretrained

__all__ = [
    "ClipEngine", "ClipError", "DEMO_ARCH", "ENV_MODEL", "ImageBatch", "ImageDecodeError",
    "ImageEmbeddings", "ImageSource", "ModelNotReadyError", "ModelSpec", "ModelSpecError",
    "ModelStatus", "ModelWeightsError", "TextEmbeddingCache", "available_cpus", "clear_engines",
    "configure_threads", "configured_spec", "create_engine", "demo_weights_dir", "embed_dim_of",
    "find_weights_in_dir", "get_engine", "list_architectures", "load_image", "model_status",
    "pick_device", "resolve_model_spec", "save_pretrained", "text_cache",
]
