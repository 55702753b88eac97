"""Building a ready-to-run open_clip model from a ``WeightsSource``.

We let open_clip instantiate the architecture (so every open_clip model works) but never let it
fetch or pick weights itself: weights were located by ``weights.locate_weights``, and are loaded
strictly here, so a wrong file is an error and never a silently random model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import open_clip
import torch
from open_clip.transform import PreprocessCfg, image_transform_v2

from .profile import DEFAULT_PROFILE, ModelProfile, load_profile, profile_path_for
from .registry import ModelSpec
from .weights import WeightsSource, load_weights_into, locate_weights

RANDOM_SEED = 0
log = logging.getLogger(__name__)


class _DropRandomInitNotice(logging.Filter):
    """open_clip warns "initialized randomly" because we load the weights ourselves, after it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()


@dataclass
class LoadedModel:
    """An eval-mode model with its own val transform and tokenizer, as open_clip defines them."""

    model: torch.nn.Module
    preprocess: Callable
    tokenizer: Callable
    model_id: str
    spec: ModelSpec
    source: WeightsSource
    embed_dim: int
    image_size: int
    profile: ModelProfile = DEFAULT_PROFILE


def load_model(spec: ModelSpec, *, device: torch.device, cache_dir: str | None = None) -> LoadedModel:
    """Locate the weights of ``spec``, build its architecture, load them and move to ``device``."""
    source = locate_weights(spec, cache_dir=cache_dir)
    model = _instantiate(source)
    if source.path is not None:
        load_weights_into(model, source)
        log.info("CLIP %s: loaded weights %s", source.model_id, source.path)
    else:
        log.warning("CLIP %s: random weights (benchmarks and tests only)", source.model_id)
    model = model.to(device).eval()
    model.requires_grad_(False)
    return LoadedModel(
        model=model,
        preprocess=val_transform(model),
        tokenizer=open_clip.get_tokenizer(source.tokenizer_name),
        model_id=source.model_id,
        spec=spec,
        source=source,
        embed_dim=_embed_dim(model),
        image_size=input_size(model),
        profile=load_profile(profile_path_for(source.path)),
    )


def _instantiate(source: WeightsSource) -> torch.nn.Module:
    """Create the architecture with no weights loaded: no download, no tower pretraining.

    A random spec is seeded inside a forked RNG so ``random:`` engines are reproducible without
    disturbing the caller's global random state.
    """
    kwargs = dict(
        pretrained=None, load_weights=False, pretrained_image=False, pretrained_text=False,
        force_quick_gelu=source.quick_gelu, force_preprocess_cfg=source.preprocess_overrides or None,
        device="cpu",
    )
    notice_filter = _DropRandomInitNotice()
    logging.getLogger().addFilter(notice_filter)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_SEED)
            return open_clip.create_model(source.arch, **kwargs)
    finally:
        logging.getLogger().removeFilter(notice_filter)


def val_transform(model: torch.nn.Module) -> Callable:
    """The model's own open_clip inference transform (what create_model_and_transforms returns)."""
    return image_transform_v2(PreprocessCfg(**model.visual.preprocess_cfg), is_train=False)


def input_size(model: torch.nn.Module) -> int:
    """Largest side of the model's input: decoding must never go below it (see decode.py)."""
    size = model.visual.preprocess_cfg["size"]
    return max(size) if isinstance(size, (tuple, list)) else int(size)


def _embed_dim(model: torch.nn.Module) -> int:
    projection = getattr(model, "text_projection", None)
    if isinstance(projection, torch.Tensor):
        return int(projection.shape[-1])
    return int(model.visual.output_dim)
