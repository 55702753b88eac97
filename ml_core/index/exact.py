"""Exact vectors beside a compressed index: re-ranking, and the id listing of a snapshot.

Compressed codes (SQ8, PQ) rank approximately; clip-retrieval's remedy, used here, is to fetch
``refine`` times more candidates than asked and re-score them with the real vectors. The
vectors are kept as float16 rows sorted by id (the precision the database stores), written
beside the snapshot and memory-mapped, so re-ranking reads a few KB per query through the page
cache shared by every process instead of holding the vectors in each process's memory.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

IDS_FILE = "ids.npy"
VECTORS_FILE = "vectors.npy"


class ExactVectors:
    """Sorted int64 ids and their float16 unit vectors (rows aligned)."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.ids = ids
        self.vectors = vectors

    @classmethod
    def of(cls, ids, vectors) -> "ExactVectors":
        ids = np.asarray(ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        return cls(ids[order], np.asarray(vectors)[order].astype(np.float16))

    def __len__(self) -> int:
        return len(self.ids)

    def save(self, folder: Path) -> list[str]:
        np.save(folder / IDS_FILE, self.ids)
        np.save(folder / VECTORS_FILE, self.vectors)
        return [IDS_FILE, VECTORS_FILE]

    @classmethod
    def open(cls, folder: Path) -> "ExactVectors":
        """Memory-mapped, read-only: processes share the pages."""
        return cls(np.load(folder / IDS_FILE, mmap_mode="r"), np.load(folder / VECTORS_FILE, mmap_mode="r"))

    def rerank(self, queries: np.ndarray, candidates: np.ndarray, k: int):
        """``(scores, ids)`` of the best ``k`` of each row of ``candidates`` by exact cosine."""
        out_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
        out_i = np.full((len(queries), k), -1, dtype=np.int64)
        for row, (query, cand) in enumerate(zip(queries, candidates)):
            cand = cand[cand >= 0]
            pos = np.searchsorted(self.ids, cand)
            pos[pos >= len(self.ids)] = 0
            known = self.ids[pos] == cand if len(self.ids) else np.zeros(len(cand), bool)
            cand, pos = cand[known], pos[known]
            if not len(cand):
                continue
            scores = self.vectors[np.sort(pos)].astype(np.float32) @ query  # sorted reads: fewer page faults
            cand = self.ids[np.sort(pos)]
            best = np.argsort(-scores, kind="stable")[:k]
            out_s[row, : len(best)] = scores[best]
            out_i[row, : len(best)] = cand[best]
        return out_s, out_i
