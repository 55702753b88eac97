"""CLIP reranking of generated candidates: score every image against its prompt, keep the best.

    from ml_core.clip import get_engine
    from ml_core.rerank import rerank
    result = rerank(get_engine(), "a red circle on the left", images)   # images: (n,3,S,S) in [0,1] or PIL
    result.top(4), result.scores, result.rank_scores                    # best 4; cosine; what ranks them
    cosine, rank_score = score_candidates(get_engine(), prompt, images) # what the generation plugin stores

The plugin's ranking score (`rank_scores`) is `calibrated_scores` -- the cosine minus each image's
mean cosine to a bank of unrelated captions, so CLIP "hubs" stop winning -- averaged over three views
of each candidate: the picture, and the picture under a 3x3 and a 5x5 box filter (`smoothed`), so
that the generator's speckles and colour fringes sway the CLIP less. Only the demo CLIP has a bank
and the views so far (both measured on it: docs/ml/dalle.md); other models rank by raw cosine.

Images are scored as the 8-bit RGB pictures a user would save (`to_pil`), through the engine's own
preprocessing, so the score shown for a candidate is exactly the cosine its saved PNG gets when the
library embeds it (tested).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageFilter


def to_pil(image: torch.Tensor) -> Image.Image:
    """(3, H, W) float in [0, 1] -> 8-bit RGB PIL image (rounded, clamped)."""
    pixels = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    return Image.fromarray(pixels.permute(1, 2, 0).cpu().numpy(), "RGB")


def _as_pil(images) -> list[Image.Image]:
    if isinstance(images, torch.Tensor):
        return [to_pil(im) for im in images]
    return [im.convert("RGB") for im in images]


def clip_scores(engine, prompt: str, images: torch.Tensor | Sequence[Image.Image], *,
                batch_size: int | None = None) -> np.ndarray:
    """(n,) cosine similarities between `prompt` and each image (batched forward passes)."""
    return (image_vectors(engine, images, batch_size=batch_size) @ engine.encode_text(prompt)).astype(np.float32)


def image_vectors(engine, images, *, batch_size: int | None = None) -> np.ndarray:
    """(n, D) unit embeddings of the images as saved 8-bit pictures (batched forward passes)."""
    pictures = _as_pil(images)
    if not pictures:
        return np.zeros((0, engine.embed_dim), dtype=np.float32)
    size = batch_size or engine.batch_size
    vectors = []
    for start in range(0, len(pictures), size):
        pixels = torch.stack([engine.preprocess(p) for p in pictures[start:start + size]])
        vectors.append(engine.encode_pixels(pixels))
    return np.concatenate(vectors).astype(np.float32)


# --------------------------------------------------------------------------- calibrated scores
# CLIP has "hubs": pictures close to every caption. Among one prompt's candidates a hub wins on raw
# cosine whether or not it shows the prompt. The calibrated score subtracts each image's mean cosine
# to a bank of unrelated captions (the image side of CSLS, Conneau et al. 2018); as the mean of dot
# products is the dot product with the mean, that is one shifted text vector and costs nothing.
BANK_WORLD, BANK_SIZE = 2718, 256   # the demo bank's world: not training's (0), the eval's, nor validation's
_bank_means: dict[str, np.ndarray | float] = {}


def caption_bank(engine) -> list[str] | None:
    """The captions the calibrated score subtracts for this engine, or None (raw cosine). The demo
    CLIP: canonical captions of its own world. Other models keep raw cosine: calibration was only
    measured on the demo CLIP (docs/ml/dalle.md), and real weights cannot be loaded here."""
    return list(_demo_bank()) if engine.spec.kind == "demo" else None


@lru_cache(maxsize=1)
def _demo_bank() -> tuple[str, ...]:
    from .synth.captions import canonical_caption
    from .synth.sampling import scene_at

    return tuple(canonical_caption(scene_at(BANK_WORLD, i, "all")) for i in range(BANK_SIZE))


def calibrated_scores(engine, prompt: str, images, *, bank: Sequence[str] | None = None,
                      batch_size: int | None = None) -> np.ndarray:
    """(n,) cosine to `prompt` minus each image's mean cosine to the `bank` captions (default:
    `caption_bank(engine)`); raw cosine where the engine has no bank."""
    text = calibrated_text(engine, prompt, bank)
    return (image_vectors(engine, images, batch_size=batch_size) @ text).astype(np.float32)


# The ranking score is the mean calibrated score of each candidate seen at these box-filter radii
# (Pillow's BoxBlur; 0 is the picture itself, 1 a 3x3 box, 2 a 5x5 box; edges repeated). Chosen on
# the validation world among five such views, confirmed on the eval's: docs/ml/dalle.md.
RANK_SMOOTHING = (0, 1, 2)


def rank_smoothing(engine) -> tuple[int, ...]:
    """The box-filter radii `rank_scores` averages over for this engine: RANK_SMOOTHING for the demo
    CLIP, the picture alone for models it was not measured on."""
    return RANK_SMOOTHING if engine.spec.kind == "demo" else (0,)


def smoothed(images, radius: int) -> list[Image.Image]:
    """The 8-bit pictures after a (2 radius + 1)-square box filter; radius 0: unchanged."""
    pictures = _as_pil(images)
    return [p.filter(ImageFilter.BoxBlur(radius)) for p in pictures] if radius else pictures


def rank_scores(engine, prompt: str, images, *, batch_size: int | None = None) -> np.ndarray:
    """(n,) what the plugin ranks by: the mean `calibrated_scores` of the candidates over the
    engine's `rank_smoothing` radii."""
    pictures = _as_pil(images)
    return np.mean([calibrated_scores(engine, prompt, smoothed(pictures, r), batch_size=batch_size)
                    for r in rank_smoothing(engine)], axis=0).astype(np.float32)


def score_candidates(engine, prompt: str, images, *, batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(cosine, ranking score) per candidate: what the generation plugin stores and ranks by. The
    cosine is the saved picture's own (what the library gives it); the ranking score is
    `rank_scores` (one image pass per smoothing radius, the picture's own shared)."""
    pictures = _as_pil(images)
    vectors = image_vectors(engine, pictures, batch_size=batch_size)
    views = [vectors if r == 0 else image_vectors(engine, smoothed(pictures, r), batch_size=batch_size)
             for r in rank_smoothing(engine)]
    text = engine.encode_text(prompt)
    return (vectors @ text).astype(np.float32), (np.mean(views, axis=0) @ (text - bank_mean(engine))).astype(np.float32)


def calibrated_text(engine, prompt: str, bank: Sequence[str] | None = None) -> np.ndarray:
    """The prompt's text vector minus the mean vector of the bank (the prompt's own where no bank):
    image vectors dotted with it give `calibrated_scores`."""
    return engine.encode_text(prompt) - bank_mean(engine, bank)


def bank_mean(engine, bank: Sequence[str] | None = None) -> np.ndarray | float:
    """Mean text vector of `bank` (default `caption_bank(engine)`), encoded once per engine and
    bank; 0.0 where there is no bank. The engine's own bank is keyed by its model id alone, so the
    plugin's per-batch call does no list or hash work."""
    key = engine.model_id if bank is None else f"{engine.model_id}|{hash(tuple(bank))}"
    if key not in _bank_means:
        captions = caption_bank(engine) if bank is None else list(bank)
        _bank_means[key] = (np.asarray(engine.encode_texts(captions, use_cache=False), dtype=np.float32).mean(0)
                            if captions else 0.0)
    return _bank_means[key]


@dataclass
class Reranked:
    scores: np.ndarray        # (n,) cosine of each candidate, in the input order
    order: np.ndarray         # (n,) candidate indices, best first by rank_scores (ties: lower index first)
    rank_scores: np.ndarray   # (n,) what the order follows: `rank_scores`

    def top(self, keep: int) -> list[int]:
        return [int(i) for i in self.order[:keep]]


def rank_by_score(scores: np.ndarray) -> np.ndarray:
    """Indices best first; a stable sort so equal scores keep candidate order (reproducible)."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


def rerank(engine, prompt: str, images, *, batch_size: int | None = None) -> Reranked:
    """The candidates best first, as the generation plugin ranks them (`score_candidates`)."""
    scores, rank_scores = score_candidates(engine, prompt, images, batch_size=batch_size)
    return Reranked(scores, rank_by_score(rank_scores), rank_scores)
