"""CLIP reranking of generated candidates: score every image against its prompt, keep the best.

    from ml_core.clip import get_engine
    from ml_core.rerank import rerank
    result = rerank(get_engine(), "a red circle on the left", images)   # images: (n,3,S,S) in [0,1] or PIL
    result.top(4), result.scores, result.rank_scores                    # best 4; cosine; what ranks them
    cosine, rank_score = score_candidates(get_engine(), prompt, images) # what the generation plugin stores

How candidates are ranked is the CLIP's profile's choice (`engine.profile.ranking`, data beside the
weights: ml_core/clip/profile.py), applied only to the images of the generation backends the profile
says it was measured on (`score_candidates(..., backend=name)`); all other images rank by the raw
cosine. The methods:

- `cosine`: the cosine to the prompt (the default).
- `calibrated`: the cosine minus each image's mean cosine to the profile's caption bank, so CLIP
  "hubs" (pictures close to every caption) stop winning.
- `margin`: the cosine to the prompt minus the highest cosine to the prompt's contradictions (the
  captions one fact away, from the profile's contradiction provider: "a purple square" vs "a purple
  heart", "an orange square"...); a prompt with no contradiction falls back to `calibrated`.

The image side is the mean embedding of the profile's views of each candidate: the picture and the
picture under box filters (`smoothed`), so a generator's speckles and colour fringes sway the CLIP less.
The demo CLIP's profile ranks Atelier's own DALL·E images by `margin` on three views; the figures and
the command that measures them are in docs/ml/dalle.md.

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

from .clip.profile import Ranking, contradiction_provider


def to_pil(image: torch.Tensor) -> Image.Image:
    """(3, H, W) float in [0, 1] -> 8-bit RGB PIL image (rounded, clamped)."""
    pixels = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    return Image.fromarray(pixels.permute(1, 2, 0).cpu().numpy(), "RGB")


def _as_pil(images) -> list[Image.Image]:
    """RGB pictures; RGB ones are passed through, not copied (scoring calls this on each view)."""
    if isinstance(images, torch.Tensor):
        return [to_pil(im) for im in images]
    return [im if im.mode == "RGB" else im.convert("RGB") for im in images]


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
_bank_means: dict[tuple, np.ndarray | float] = {}


def ranking_for(engine, backend: str | None = None) -> Ranking:
    """The ranking the engine's profile gives images of `backend` (ml_core.clip.profile): the
    profile's own where it was measured on that backend (or `backend` is None), else raw cosine."""
    return engine.profile.ranking_for(backend)


def caption_bank(engine, backend: str | None = None) -> list[str] | None:
    """The captions the calibrated score subtracts (the profile's `ranking.caption_bank`), or None."""
    bank = ranking_for(engine, backend).caption_bank
    return list(bank) if bank else None


def calibrated_scores(engine, prompt: str, images, *, bank: Sequence[str] | None = None,
                      batch_size: int | None = None) -> np.ndarray:
    """(n,) cosine to `prompt` minus each image's mean cosine to the `bank` captions (default:
    `caption_bank(engine)`); raw cosine where the engine has no bank."""
    text = calibrated_text(engine, prompt, bank)
    return (image_vectors(engine, images, batch_size=batch_size) @ text).astype(np.float32)


def rank_smoothing(engine, backend: str | None = None) -> tuple[int, ...]:
    """The box-filter radii (Pillow's BoxBlur: 0 the picture, 1 a 3x3 box, 2 a 5x5 box) whose views
    `rank_scores` averages: the profile's `ranking.views`, the picture alone by default."""
    return ranking_for(engine, backend).views


def prompt_contradictions(engine, prompt: str, backend: str | None = None) -> list[str]:
    """The captions one fact away from `prompt` that the `margin` ranking weighs it against, from
    the profile's contradiction provider; none for other rankings."""
    ranking = ranking_for(engine, backend)
    if ranking.method != "margin" or not ranking.contradictions:
        return []
    return list(contradiction_provider(ranking.contradictions)(prompt))


def smoothed(images, radius: int) -> list[Image.Image]:
    """The 8-bit pictures after a (2 radius + 1)-square box filter; radius 0: unchanged."""
    pictures = _as_pil(images)
    return [p.filter(ImageFilter.BoxBlur(radius)) for p in pictures] if radius else pictures


def view_vectors(engine, images, *, own: np.ndarray | None = None, batch_size: int | None = None,
                 backend: str | None = None) -> np.ndarray:
    """(n, D) mean embedding of each picture's `rank_smoothing` views (`own`: the pictures' own
    vectors when already computed)."""
    pictures = _as_pil(images)
    views = [own if r == 0 and own is not None else image_vectors(engine, smoothed(pictures, r), batch_size=batch_size)
             for r in rank_smoothing(engine, backend)]
    return np.mean(views, axis=0).astype(np.float32)


def ranking_from_vectors(engine, prompt: str, vectors: np.ndarray, backend: str | None = None) -> np.ndarray:
    """(n,) ranking score of pictures whose view vectors are `vectors`. `cosine`: the cosine;
    `calibrated`: minus the bank mean; `margin`: the cosine to the prompt minus the highest cosine
    to any of its `prompt_contradictions` (does the picture show the prompt rather than its nearest
    contradiction? a bank calibration would cancel out of it), calibrated where there are none."""
    ranking = ranking_for(engine, backend)
    text = engine.encode_text(prompt)
    others = prompt_contradictions(engine, prompt, backend)
    if not others:
        shift = bank_mean(engine, ranking=ranking) if ranking.method != "cosine" else 0.0
        return (vectors @ (text - shift)).astype(np.float32)
    rivals = np.asarray(engine.encode_texts(others), dtype=np.float32)
    return (vectors @ text - (vectors @ rivals.T).max(axis=1)).astype(np.float32)


def rank_scores(engine, prompt: str, images, *, batch_size: int | None = None,
                backend: str | None = None) -> np.ndarray:
    """(n,) what the plugin ranks by (`ranking_from_vectors` of the candidates' `view_vectors`)."""
    views = view_vectors(engine, images, batch_size=batch_size, backend=backend)
    return ranking_from_vectors(engine, prompt, views, backend)


def score_candidates(engine, prompt: str, images, *, batch_size: int | None = None,
                     backend: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(cosine, ranking score) per candidate of `backend`: what the generation plugin stores and
    ranks by. The cosine is the saved picture's own (what the library gives it); the ranking score
    is `rank_scores` (one more image pass per extra view, the picture's own pass shared)."""
    pictures = _as_pil(images)
    own = image_vectors(engine, pictures, batch_size=batch_size)
    views = view_vectors(engine, pictures, own=own, batch_size=batch_size, backend=backend)
    return (own @ engine.encode_text(prompt)).astype(np.float32), ranking_from_vectors(engine, prompt, views, backend)


def calibrated_text(engine, prompt: str, bank: Sequence[str] | None = None) -> np.ndarray:
    """The prompt's text vector minus the mean vector of the bank (the prompt's own where no bank):
    image vectors dotted with it give `calibrated_scores`."""
    return engine.encode_text(prompt) - bank_mean(engine, bank)


def bank_mean(engine, bank: Sequence[str] | None = None, *, ranking: Ranking | None = None) -> np.ndarray | float:
    """Mean text vector of `bank` (default: the caption bank of `ranking`, the profile's own by
    default), encoded once per engine and bank; 0.0 where there is no bank. The profile's bank is
    keyed by the model id alone, so the plugin's per-batch call does no list or hash work."""
    if bank is None:
        bank = (ranking or engine.profile.ranking).caption_bank
        key = (engine.model_id, "profile", id(ranking or engine.profile.ranking))
    else:
        key = (engine.model_id, hash(tuple(bank)))
    if not bank:
        return 0.0
    if key not in _bank_means:
        _bank_means[key] = np.asarray(engine.encode_texts(list(bank), use_cache=False), dtype=np.float32).mean(0)
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


def rerank(engine, prompt: str, images, *, batch_size: int | None = None, backend: str | None = None) -> Reranked:
    """The candidates best first, as the generation plugin ranks them (`score_candidates`)."""
    scores, rank_scores = score_candidates(engine, prompt, images, batch_size=batch_size, backend=backend)
    return Reranked(scores, rank_by_score(rank_scores), rank_scores)
