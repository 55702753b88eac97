"""The relevance cutoff: below it a text query answers "no good match" instead of the least bad photos.

Calibrated per model on held-out scenes of the synthetic world (``python -m atelier.search.calibrate``
writes ``cutoffs.json``); ``ATELIER_SEARCH_MIN_SCORE`` overrides it for every model. A model
without a calibrated value has no cutoff (results are ranked, never refused).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from django.conf import settings

TABLE = Path(__file__).with_name("cutoffs.json")


@lru_cache(maxsize=1)
def _table() -> dict:
    try:
        return json.loads(TABLE.read_text())
    except (OSError, ValueError):
        return {}


def text_cutoff(model_id: str) -> float | None:
    if settings.ATELIER_SEARCH_MIN_SCORE is not None:
        return float(settings.ATELIER_SEARCH_MIN_SCORE)
    entry = _table().get(model_id)
    return None if entry is None else float(entry["threshold"])
