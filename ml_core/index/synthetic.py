"""Clustered synthetic embeddings for tests and benchmarks.

Uniform random vectors are the worst case for every ANN index and look nothing like CLIP
embeddings (which sit on low-dimensional, clustered manifolds), so recall measured on them
misleads. This generator draws a Gaussian mixture instead: a few thousand cluster centres that
are themselves grouped around a few dozen "topics", cluster sizes following a Zipf-like law,
and per-cluster noise that lives mostly in a low-dimensional subspace plus a little isotropic
noise. Rows are L2-normalised float32, generated in chunks so 1M x 512 needs no temporary
copies beyond one chunk.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClusterSpec:
    """Shape of the mixture; the defaults give CLIP-like similarity statistics (see module doc)."""

    dim: int = 512
    n_clusters: int = 4000
    n_topics: int = 48
    topic_spread: float = 0.6  # centre = topic + spread * noise (before normalisation)
    intrinsic_dim: int = 48  # rank of each cluster's main noise subspace
    n_bases: int = 32  # pool of subspaces shared by clusters (keeps memory small)
    spread: tuple[float, float] = (0.4, 0.8)  # per-cluster low-rank noise scale range
    isotropic: float = 0.25  # small full-rank noise scale
    zipf: float = 0.6  # exponent of the cluster-size law
    common: float = 0.6  # shared direction: CLIP embeddings sit in a cone, not on the sphere


class ClusteredVectors:
    """A fixed mixture; :meth:`sample` draws any number of rows from it with its own seed."""

    def __init__(self, spec: ClusterSpec = ClusterSpec(), seed: int = 0) -> None:
        self.spec = spec
        rng = np.random.default_rng(seed)
        d = spec.dim
        topics = _normalise(rng.standard_normal((spec.n_topics, d), dtype=np.float32))
        owner = rng.integers(0, spec.n_topics, spec.n_clusters)
        noise = rng.standard_normal((spec.n_clusters, d), dtype=np.float32) / np.sqrt(d)
        common = _normalise(rng.standard_normal((1, d), dtype=np.float32))
        self.centres = _normalise(topics[owner] + spec.topic_spread * noise + spec.common * common)
        q = rng.standard_normal((spec.n_bases, spec.intrinsic_dim, d), dtype=np.float32)
        self.bases = q / np.sqrt(spec.intrinsic_dim * d)  # so that |z @ basis| ~ 1
        self.basis_of = rng.integers(0, spec.n_bases, spec.n_clusters)
        self.scale = rng.uniform(*spec.spread, spec.n_clusters).astype(np.float32)
        weights = 1.0 / np.arange(1, spec.n_clusters + 1) ** spec.zipf
        self.weights = rng.permutation(weights / weights.sum())

    def sample(self, n: int, seed: int, chunk: int = 65536) -> np.ndarray:
        """Return ``n`` normalised float32 rows; the same ``seed`` gives the same rows."""
        out = np.empty((n, self.spec.dim), dtype=np.float32)
        rng = np.random.default_rng(seed)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            out[start:stop] = self._chunk(rng, stop - start)
        return out

    def _chunk(self, rng: np.random.Generator, m: int) -> np.ndarray:
        spec = self.spec
        cid = rng.choice(spec.n_clusters, size=m, p=self.weights)
        z = rng.standard_normal((m, spec.intrinsic_dim), dtype=np.float32)
        z *= self.scale[cid, None]
        x = self.centres[cid]  # fancy indexing copies: safe to add into
        basis = self.basis_of[cid]
        for b in np.unique(basis):  # one GEMM per shared subspace, not a gather per row
            rows = np.flatnonzero(basis == b)
            x[rows] += z[rows] @ self.bases[b]
        x += spec.isotropic / np.sqrt(spec.dim) * rng.standard_normal(x.shape, dtype=np.float32)
        return _normalise(x)


def _normalise(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32, copy=False)


def clustered(n: int, n_queries: int = 0, dim: int = 512, n_clusters: int = 4000, seed: int = 0):
    """Convenience: ``(database, queries)`` from one mixture, queries not in the database."""
    mix = ClusteredVectors(ClusterSpec(dim=dim, n_clusters=n_clusters), seed=seed)
    return mix.sample(n, seed=seed + 1), mix.sample(n_queries, seed=seed + 2)
