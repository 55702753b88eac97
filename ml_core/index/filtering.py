"""Search restricted to an allow-list of ids (the photos a user may see).

Filtering after an ordinary top-k search starves: if the nearest thousand photos belong to
someone else, a top-20 search returns nothing visible. Two strategies, picked per call:

* **Over-fetch** when most of the collection is allowed: search ``k / fraction`` (times a
  safety factor) without a filter, probing 1/fraction more IVF lists, and keep allowed hits.
  Cheap, and avoids building a hash set of a huge allow-list on every query.
* **Selector** otherwise: faiss skips disallowed ids while scanning (``IDSelectorBatch`` in the
  search parameters; works for Flat and IVF). For IVF the number of probed lists is scaled by
  1/fraction so about as many *allowed* candidates are scanned as in an unfiltered search; if
  that still finds fewer than ``k`` allowed hits, the search is repeated over every list, which
  is exact. So a filtered search returns ``min(k, allowed present)`` results, never fewer.
"""
from __future__ import annotations

import math

import faiss
import numpy as np

from .vectors import as_id_set

class AllowList:
    """A prepared allow-list: sorted unique ids plus a lazily built faiss selector.

    Sorting a large list and hashing it into an ``IDSelectorBatch`` costs more than the search
    itself, so callers that reuse one list for many queries (a user's visible photos) build it
    once; plain arrays and sets passed to ``search`` are wrapped on each call.
    """

    def __init__(self, ids) -> None:
        self.ids = as_id_set(ids)
        self._selector = None

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def of(cls, ids) -> "AllowList":
        return ids if isinstance(ids, cls) else cls(ids)

    def contains(self, candidates: np.ndarray) -> np.ndarray:
        """Boolean mask of ``candidates`` that are allowed (binary search, no re-sorting)."""
        pos = np.searchsorted(self.ids, candidates)
        pos[pos == len(self.ids)] = 0
        return (self.ids[pos] == candidates) if len(self.ids) else np.zeros(candidates.shape, bool)

    @property
    def selector(self):
        if self._selector is None:
            self._selector = faiss.IDSelectorBatch(self.ids)
        return self._selector


OVERFETCH_MIN_FRACTION = 0.5  # below this share of allowed ids, use a selector
OVERFETCH_FACTOR = 2.0


def search_filtered(index, queries: np.ndarray, k: int, allowed: AllowList, *,
                    ntotal: int, nlist: int = 0, nprobe: int = 0):
    """``(scores, ids)`` of the top-``k`` allowed hits per query, padded with -inf / -1."""
    fraction = min(1.0, len(allowed) / max(ntotal, 1))
    # allowed neighbours rank deeper (top-10 allowed ~ top-10/fraction overall), so IVF
    # probes 1/fraction more lists to keep their recall at the unfiltered level
    probe = min(nlist, max(nprobe, math.ceil(nprobe / max(fraction, 1e-12)))) if nlist else 0
    if fraction >= OVERFETCH_MIN_FRACTION:
        found = _overfetch(index, queries, k, allowed, ntotal, fraction, probe)
        if found is not None:
            return found
    return _with_selector(index, queries, k, allowed, nlist, probe)


def _overfetch(index, queries, k, allowed, ntotal, fraction, probe):
    fetch = min(ntotal, math.ceil(k / fraction * OVERFETCH_FACTOR) + k)
    params = faiss.SearchParametersIVF(nprobe=probe) if probe else None
    scores, ids = index.search(queries, fetch, params=params)
    keep = allowed.contains(ids) & (ids >= 0)
    if fetch < ntotal and (keep.sum(axis=1) < min(k, len(allowed))).any():
        return None  # unlucky neighbourhood: let the selector do it exactly
    return _top_kept(scores, ids, keep, k)


def _top_kept(scores, ids, keep, k):
    out_s = np.full((len(ids), k), -np.inf, dtype=np.float32)
    out_i = np.full((len(ids), k), -1, dtype=np.int64)
    for row in range(len(ids)):
        sel = np.flatnonzero(keep[row])[:k]  # faiss rows are already sorted by score
        out_s[row, : len(sel)] = scores[row, sel]
        out_i[row, : len(sel)] = ids[row, sel]
    return out_s, out_i


def _with_selector(index, queries, k, allowed, nlist, probe):
    selector = allowed.selector
    if not nlist:  # flat: the selector scan is exhaustive and exact
        return index.search(queries, k, params=faiss.SearchParameters(sel=selector))
    scores, ids = index.search(queries, k, params=faiss.SearchParametersIVF(sel=selector, nprobe=probe))
    if probe < nlist and ((ids >= 0).sum(axis=1) < min(k, len(allowed))).any():
        full = faiss.SearchParametersIVF(sel=selector, nprobe=nlist)
        scores, ids = index.search(queries, k, params=full)
    return scores, ids
