"""The relevance cutoff: below it a text query answers "no good match" instead of the least bad photos.

In order: ``ATELIER_SEARCH_MIN_SCORE`` (one cosine for every model); the model's calibrated cutoff
(its profile's ``search.cutoff``, written by ``python -m ml_core.calibrate``); else the label-free
cutoff every model gets: the query's mean cosine over the photos the search may return plus
``label_free_z`` standard deviations (ml_core.clip.profile.label_free_cutoff), from the moments of
their stored vectors once there are ``LABEL_FREE_MIN_PHOTOS`` of them (below that, results are
never refused).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from django.conf import settings

from atelier.embeddings.models import PhotoEmbedding, unpack_vectors
from ml_core.clip.profile import ModelProfile, label_free_cutoff, library_moments

LABEL_FREE_MIN_PHOTOS = 100   # fewer photos give moments too noisy to refuse anything on
MOMENTS_SAMPLE = 4096         # photos the moments are computed from (evenly spaced by id)


@dataclass(frozen=True)
class Cutoff:
    value: float
    kind: str   # "setting", "calibrated" or "label-free"


def text_cutoff(profile: ModelProfile, model_id: str, query: np.ndarray, allowed_ids: np.ndarray) -> Cutoff | None:
    """The cutoff for this query over the photos this search may return (`allowed_ids`, sorted)."""
    if settings.ATELIER_SEARCH_MIN_SCORE is not None:
        return Cutoff(float(settings.ATELIER_SEARCH_MIN_SCORE), "setting")
    if profile.search_cutoff is not None:
        return Cutoff(profile.search_cutoff, "calibrated")
    if len(allowed_ids) < LABEL_FREE_MIN_PHOTOS:
        return None
    sample = np.asarray(allowed_ids[::max(1, len(allowed_ids) // MOMENTS_SAMPLE)][:MOMENTS_SAMPLE], dtype=np.int64)
    moments = _moments(model_id, sample.tobytes())
    if moments is None:
        return None
    return Cutoff(label_free_cutoff(query, *moments, profile.label_free_z), "label-free")


@lru_cache(maxsize=64)
def _moments(model_id: str, sample_ids: bytes):
    """Mean and covariance of the stored unit vectors of these photos (an even sample of the ones a
    search may return: the distribution is over what this user can see, nobody else's photos)."""
    ids = np.frombuffer(sample_ids, dtype=np.int64).tolist()
    blobs = list(PhotoEmbedding.objects.filter(model_id=model_id, photo_id__in=ids, vector__isnull=False)
                 .values_list("vector", flat=True))
    if len(blobs) < 2:
        return None
    vectors = unpack_vectors(blobs).astype(np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-6)
    return library_moments(vectors)


def clear_cache() -> None:
    _moments.cache_clear()
