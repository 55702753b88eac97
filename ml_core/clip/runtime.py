"""Where and how fast the model runs: device choice, torch threads, decode workers, batch size.

On a CPU box the forward pass and JPEG decoding compete for the same cores, so the thread split
matters as much as the model: torch gets every core for its intra-op pool and, for a big model,
decoding gets one worker thread (Pillow releases the GIL while it decodes and resizes, so the two
overlap, and draft mode keeps decoding to a small fraction of the forward pass). On a GPU, or for
a tiny model, decoding is the bottleneck and gets more threads (``default_decode_workers``).
"""

from __future__ import annotations

import os
import threading

import torch

from ..config import current_config


_threads_lock = threading.Lock()


def available_cpus() -> int:
    """Cores this process may use (respects taskset/cgroup affinity, unlike os.cpu_count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def pick_device(requested: str | torch.device | None = None) -> torch.device:
    """``requested``, else the config's ``device``, else CUDA when present, else CPU."""
    choice = requested or current_config().device or None
    if choice is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op thread count (``threads``, ``ATELIER_TORCH_THREADS`` or all cores).

    torch's setting is process-wide, so this is done once per engine creation, not per call.
    """
    wanted = threads or current_config().torch_threads or available_cpus()
    with _threads_lock:
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)
    return wanted


SMALL_MODEL_INPUT = 128


def default_decode_workers(device: torch.device, image_size: int) -> int:
    """How many threads decode photos while the model runs.

    * GPU: the forward pass is cheap, decoding is the bottleneck -> most cores.
    * CPU, big model (ViT-B-32: ~100 ms of core time per photo against ~8 ms to decode): one
      thread keeps ahead of the model and leaves torch the rest (measured: pipeline at ~0.92 of
      the raw forward speed on 2 cores).
    * CPU, small model (the 64 px demo): decoding dominates -> one more thread than cores (a
      decode thread spends part of each photo holding the GIL; measured +20 % over one thread).
    """
    cpus = available_cpus()
    if device.type == "cuda":
        return max(1, min(16, cpus - 1))
    if image_size <= SMALL_MODEL_INPUT:
        return min(8, cpus + 1)
    return max(1, cpus // 4)


def default_batch_size(device: torch.device) -> int:
    """Big enough to keep the device busy, small enough that a failed photo costs little latency."""
    return 128 if device.type == "cuda" else 32
