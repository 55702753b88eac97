"""Process-level faiss settings: OpenMP threads and the optional GPU.

OpenMP's thread count is a per-thread setting: ``omp_set_num_threads`` called in the main
thread does not reach the threads a web server searches from. So the wrapper applies the
configured count in the calling thread before each search (a cheap C call). The counts come
from :class:`~ml_core.index.factory.IndexPolicy` (``search_threads``, ``build_threads``).
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

import faiss

log = logging.getLogger(__name__)


def apply_threads(n: int) -> None:
    """Set this thread's OpenMP thread count if it differs."""
    if faiss.omp_get_max_threads() != n:
        faiss.omp_set_num_threads(n)


@contextmanager
def threads(n: int):
    """Temporarily use ``n`` OpenMP threads in this thread."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def gpu_available() -> bool:
    """True when this faiss build has GPU support and sees a device."""
    get = getattr(faiss, "get_num_gpus", None)
    return bool(get and hasattr(faiss, "StandardGpuResources") and get() > 0)


_resources = None


def to_gpu(index):
    """A GPU replica of a CPU index for searching, or None when that is not possible.

    The CPU index stays the master copy (save, remove, reconstruct); the replica is rebuilt
    after writes. Index types without a GPU implementation fall back to CPU with a warning.
    """
    global _resources
    if not gpu_available():
        return None
    try:  # pragma: no cover - needs a GPU build of faiss
        if _resources is None:
            _resources = faiss.StandardGpuResources()
        options = faiss.GpuClonerOptions()
        options.useFloat16 = False
        return faiss.index_cpu_to_gpu(_resources, 0, index, options)
    except Exception as exc:  # pragma: no cover
        log.warning("faiss GPU clone failed, searching on CPU: %s", exc)
        return None
