"""Query syntax: terms combined as embedding arithmetic.

    beach -people         "beach" minus "people"
    red + circle          both, added
    red:2 + circle        weights (a negative weight subtracts)
    a dog on the beach    one phrase (words are not split: CLIP reads phrases)

Terms are split at ``+`` and before a ``-`` that starts a word; ``:number`` at a term's end sets
its weight (default 1; a ``-`` term defaults to minus the model profile's ``search.negative_weight``,
ml_core.clip.profile, 0.5 unless a profile sets it). The query vector is the normalised weighted
sum of the terms' unit text embeddings.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ml_core.clip.profile import DEFAULT_NEGATIVE_WEIGHT

MAX_TERMS = 16
_WEIGHT = re.compile(r"^(?P<text>.*?):(?P<w>[+-]?\d+(?:\.\d+)?)$")
_NEG_SPLIT = re.compile(r"(?:^|\s)-(?=\S)")


class QueryError(ValueError):
    pass


@dataclass(frozen=True)
class Term:
    text: str
    weight: float


def parse_query(text: str, *, negative_weight: float = DEFAULT_NEGATIVE_WEIGHT) -> list[Term]:
    terms: list[Term] = []
    for chunk in text.split("+"):
        pieces = _NEG_SPLIT.split(chunk)
        for i, piece in enumerate(pieces):
            term = _term(piece, negative_weight if i > 0 else None)
            if term is not None:
                terms.append(term)
    if not terms:
        raise QueryError("q: the query has no words")
    if len(terms) > MAX_TERMS:
        raise QueryError(f"q: at most {MAX_TERMS} terms")
    if all(t.weight <= 0 for t in terms):
        raise QueryError("q: a query needs at least one positive term (e.g. 'beach -people')")
    return terms


def _term(piece: str, negative_weight: float | None) -> Term | None:
    """`negative_weight`: None for a positive term, else the default weight of a ``-`` term."""
    piece = " ".join(piece.split())
    if not piece:
        return None
    negative = negative_weight is not None
    weight = -negative_weight if negative else 1.0
    match = _WEIGHT.match(piece)
    if match:
        piece = match["text"].strip()
        value = float(match["w"])
        if abs(value) > 10:
            raise QueryError("q: weights must be between -10 and 10")
        weight = -abs(value) if negative else value
    if not piece:
        return None
    return Term(piece, weight)


def combine(terms: list[Term], vectors: np.ndarray) -> np.ndarray:
    """The unit query vector: normalised weighted sum of the terms' unit vectors."""
    weights = np.array([t.weight for t in terms], dtype=np.float32)[:, None]
    total = (weights * vectors).sum(axis=0)
    norm = float(np.linalg.norm(total))
    if norm < 1e-6:
        raise QueryError("q: the terms cancel out")
    return (total / norm).astype(np.float32)


def keyword_text(terms: list[Term]) -> list[str]:
    """The positive phrases, for matching titles, captions and file names."""
    return [t.text for t in terms if t.weight > 0]
