"""CLIP reranking of generated candidates: score every image against its prompt, keep the best.

    from ml_core.clip import get_engine
    from ml_core.rerank import rerank
    result = rerank(get_engine(), "a red circle on the left", images)   # images: (n,3,S,S) in [0,1] or PIL
    result.top(4), result.scores                                        # best 4 indices; cosine per image

Images are scored as the 8-bit RGB pictures a user would save (`to_pil`), through the engine's own
preprocessing, so the score shown for a candidate is exactly the cosine its saved PNG gets when the
library embeds it (tested).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from PIL import Image


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
    pictures = _as_pil(images)
    if not pictures:
        return np.zeros(0, dtype=np.float32)
    text = engine.encode_text(prompt)
    size = batch_size or engine.batch_size
    scores = []
    for start in range(0, len(pictures), size):
        pixels = torch.stack([engine.preprocess(p) for p in pictures[start:start + size]])
        scores.append(engine.encode_pixels(pixels) @ text)
    return np.concatenate(scores).astype(np.float32)


@dataclass
class Reranked:
    scores: np.ndarray        # (n,) cosine of each candidate, in the input order
    order: np.ndarray         # (n,) candidate indices, best first (ties: lower index first)

    def top(self, keep: int) -> list[int]:
        return [int(i) for i in self.order[:keep]]


def rank_by_score(scores: np.ndarray) -> np.ndarray:
    """Indices best first; a stable sort so equal scores keep candidate order (reproducible)."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


def rerank(engine, prompt: str, images, *, batch_size: int | None = None) -> Reranked:
    scores = clip_scores(engine, prompt, images, batch_size=batch_size)
    return Reranked(scores, rank_by_score(scores))
