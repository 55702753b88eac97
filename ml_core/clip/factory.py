"""The one way to get a ``ClipEngine``: ``create_engine`` builds one, ``get_engine`` shares one.

A ViT-B-32 takes seconds and ~600 MB to load, so a worker process must load it once and share it
between threads and tasks; ``get_engine`` caches engines per process with a lock per key, so two
threads asking for the same model at once load it once while other models can load in parallel.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch

from .cache import TextEmbeddingCache
from .engine import ClipEngine
from .errors import ModelWeightsError
from .loading import load_model
from .registry import ModelSpec, register_atelier_configs, resolve_model_spec
from .runtime import configure_threads, default_batch_size, default_decode_workers, pick_device
from .weights import CONFIG_NAME, locate_weights

_engines: dict[tuple, ClipEngine] = {}
_key_locks: dict[tuple, threading.Lock] = {}
_table_lock = threading.Lock()


def create_engine(spec: str | ModelSpec | None = None, *, device: str | torch.device | None = None,
                  cache_dir: str | None = None, batch_size: int | None = None,
                  threads: int | None = None, decode_workers: int | None = None,
                  text_cache: TextEmbeddingCache | None = None) -> ClipEngine:
    """Load the model named by ``spec`` (default ``ATELIER_CLIP_MODEL``) into a new engine.

    ``device`` defaults to CUDA when present; ``cache_dir`` is open_clip's/the hub's download
    cache; ``threads`` sets torch's process-wide intra-op threads (default: all cores);
    ``decode_workers`` is the number of JPEG decoding threads. Raises ``ModelSpecError`` or
    ``ModelWeightsError`` (``ModelNotReadyError`` for an untrained demo model).
    """
    model_spec = spec if isinstance(spec, ModelSpec) else resolve_model_spec(spec)
    target = pick_device(device)
    if target.type == "cpu":
        configure_threads(threads)
    loaded = load_model(model_spec, device=target, cache_dir=cache_dir)
    return ClipEngine(
        loaded, device=target,
        batch_size=batch_size or default_batch_size(target),
        decode_workers=decode_workers or default_decode_workers(target, loaded.image_size),
        cache=text_cache,
    )


def get_engine(spec: str | ModelSpec | None = None, *, device: str | torch.device | None = None,
               cache_dir: str | None = None, batch_size: int | None = None,
               threads: int | None = None, decode_workers: int | None = None) -> ClipEngine:
    """The process-wide engine for these arguments, created on first use (thread-safe)."""
    model_spec = spec if isinstance(spec, ModelSpec) else resolve_model_spec(spec)
    key = (model_spec.canonical, str(pick_device(device)), cache_dir, batch_size, threads, decode_workers)
    with _table_lock:
        engine = _engines.get(key)
        if engine is not None:
            return engine
        key_lock = _key_locks.setdefault(key, threading.Lock())
    with key_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = create_engine(model_spec, device=device, cache_dir=cache_dir, batch_size=batch_size,
                                   threads=threads, decode_workers=decode_workers)
            with _table_lock:
                _engines[key] = engine
    return engine


def clear_engines() -> None:
    """Forget every cached engine (tests; or after changing ``ATELIER_CLIP_MODEL`` at runtime)."""
    with _table_lock:
        _engines.clear()
        _key_locks.clear()


@dataclass(frozen=True)
class ModelStatus:
    """Whether a model can be loaded now, without loading it (for status pages and checks)."""

    spec: str
    ready: bool
    model_id: str | None
    message: str
    weights_path: str | None = None


def model_status(spec: str | ModelSpec | None = None, *, cache_dir: str | None = None) -> ModelStatus:
    """Locate the weights of ``spec``: ready with its ``model_id``, or not ready and why."""
    model_spec = spec if isinstance(spec, ModelSpec) else resolve_model_spec(spec)
    try:
        source = locate_weights(model_spec, cache_dir=cache_dir)
    except ModelWeightsError as exc:
        return ModelStatus(model_spec.canonical, False, None, str(exc), exc.path)
    path = None if source.path is None else str(source.path)
    return ModelStatus(model_spec.canonical, True, source.model_id, "ready", path)


def embed_dim_of(spec: str | ModelSpec | None = None, *, cache_dir: str | None = None) -> int:
    """The dimension of the vectors ``spec`` produces, read from its architecture config without
    building the model (what an index needs before any vector exists). Equals ``engine.embed_dim``:
    open_clip sizes both towers' projections by the config's ``embed_dim``. Raises like ``locate_weights``."""
    model_spec = spec if isinstance(spec, ModelSpec) else resolve_model_spec(spec)
    arch = locate_weights(model_spec, cache_dir=cache_dir).arch
    if arch.startswith("local-dir:"):
        config = json.loads((Path(arch.removeprefix("local-dir:")) / CONFIG_NAME).read_text())["model_cfg"]
    else:
        register_atelier_configs()
        config = open_clip.get_model_config(arch)
    if not config or "embed_dim" not in config:
        raise ModelWeightsError(model_spec.canonical, f"architecture {arch!r} has no embed_dim in its config")
    return int(config["embed_dim"])
