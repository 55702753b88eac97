"""The generation backend interface, and the backends this plugin ships.

A backend is any object with:

    name: str                     # stable id, recorded with every generation
    label: str                    # what the studio shows
    supports: set[str]            # sampling settings it honours, of {"temperature", "top_k", "top_p"}
    readiness() -> Readiness      # ready or not, and why not (missing package, missing weights...)
    model_version() -> str        # recorded as provenance (e.g. the weights' content hash)
    generate(prompt, *, count, seed, first, settings, on_preview=None) -> Iterator[Candidate]

`generate` yields candidates first..first+count-1 of the request (prompt, seed, settings); candidate
i must be the same image however the request is chunked, so a job can sample in pieces and the same
request reproduces the same images. `on_preview(first, images)` may be called with partial images
(PIL) while a batch is being sampled. Other plugins add backends through the
`register_generation_backends` hook.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from PIL import Image


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ready


@dataclass(frozen=True)
class SamplingSettings:
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    def used(self) -> set[str]:
        """The settings that differ from "no filtering" (the ones a backend must support)."""
        out = set()
        if self.temperature != 1.0:
            out.add("temperature")
        if self.top_k is not None:
            out.add("top_k")
        if self.top_p is not None:
            out.add("top_p")
        return out


@dataclass
class Candidate:
    index: int
    seed: int
    image: Image.Image
    extra: dict = field(default_factory=dict)


PreviewFn = Callable[[int, list[Image.Image]], None]


def _files_digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


class AtelierDalleBackend:
    """Atelier's own DALL·E-style model (`ml_core.dalle`): BPE text + VQ image tokens, one transformer."""

    name = "atelier-dalle"
    label = "Atelier DALL·E (demo model, 64 px)"
    supports = {"temperature", "top_k", "top_p"}
    # Guidance, and the top-k where a request sets none: read from the weights' config.json
    # "sampling" (Dalle.sampling) when they load, so they always match the weights in use.
    cond_scale: float | None = None
    default_top_k: int | None = None

    def __init__(self, weights_dir: str | Path | None = None, batch_size: int = 16, device: str = "cpu"):
        from ml_core.dalle import DEFAULT_DIR

        self.path = Path(weights_dir) if weights_dir else DEFAULT_DIR
        self.batch_size = batch_size
        self.device = device
        self._loaded = None
        self._version = None
        self._lock = threading.Lock()

    def readiness(self) -> Readiness:
        from ml_core.dalle.pipeline import FILES, TRAIN_COMMAND

        missing = [f for f in FILES if not (self.path / f).is_file()]
        if missing:
            return Readiness(False, f"weights missing in {self.path} ({', '.join(missing)}); "
                                    f"create them with: {TRAIN_COMMAND.format(path=self.path)}")
        return Readiness(True)

    def model_version(self) -> str:
        from ml_core.dalle.pipeline import FILES

        if self._version is None:
            self._version = f"atelier-dalle:{_files_digest([self.path / f for f in FILES])}"
        return self._version

    def _dalle(self):
        with self._lock:   # workers may run several tasks in threads: load once
            if self._loaded is None:
                from ml_core.dalle import load_dalle

                self._loaded = load_dalle(self.path, device=self.device)
                self.cond_scale = float(self._loaded.sampling["cond_scale"])
                self.default_top_k = self._loaded.sampling["top_k"]
            return self._loaded

    def generate(self, prompt: str, *, count: int, seed: int, first: int = 0,
                 settings: SamplingSettings = SamplingSettings(),
                 on_preview: PreviewFn | None = None) -> Iterator[Candidate]:
        from ml_core.dalle import candidate_seed
        from ml_core.rerank import to_pil

        sampler = self._dalle().sampler()
        top_k = settings.top_k if settings.top_k is not None else self.default_top_k
        for start in range(first, first + count, self.batch_size):
            n = min(self.batch_size, first + count - start)
            last = None
            with autocast(self.device):  # yields stay outside: the caller's torch work runs as it would
                for last in sampler.stream(prompt, n, seed, first=start, temperature=settings.temperature,
                                           top_k=top_k, top_p=settings.top_p, cond_scale=self.cond_scale,
                                           preview=on_preview is not None):
                    if on_preview is not None and last.images is not None and last.rows < sampler.cfg.image_grid:
                        on_preview(start, [to_pil(im.float()) for im in last.images])
                images = sampler.decode(last.tokens).float()
            for i in range(n):
                yield Candidate(start + i, candidate_seed(seed, start + i), to_pil(images[i]))


MIN_DALLE_FILES = ("vocab.json", "merges.txt", "encoder.pt", "decoder.pt")
MIN_DALLE_DETOKENIZER = "vqgan/detoker.pt"


class MinDalleBackend:
    """DALL·E Mega or Mini through the `min-dalle` package, from a local weights folder laid out as
    min-dalle keeps its downloads: `dalle_bart_mega/` (or `dalle_bart_mini/`) with `vocab.json`,
    `merges.txt`, `encoder.pt`, `decoder.pt`, and `vqgan/detoker.pt`. Never downloads."""

    name = "min-dalle"
    supports = {"temperature", "top_k"}
    supercondition_factor = 16

    def __init__(self, models_root: str | Path | None, is_mega: bool = True, device: str = "cpu"):
        self.root = Path(models_root) if models_root else None
        self.is_mega = is_mega
        self.label = f"DALL·E {'Mega' if is_mega else 'Mini'} (min-dalle, 256 px)"
        self.device = device
        self._model = None
        self._lock = threading.Lock()

    @property
    def bart_dir(self) -> Path | None:
        return self.root / ("dalle_bart_mega" if self.is_mega else "dalle_bart_mini") if self.root else None

    def _weight_files(self) -> list[Path]:
        return [self.bart_dir / f for f in MIN_DALLE_FILES] + [self.root / MIN_DALLE_DETOKENIZER]

    def readiness(self) -> Readiness:
        if importlib.util.find_spec("min_dalle") is None:
            return Readiness(False, "the min-dalle package is not installed (pip install min-dalle)")
        if self.root is None:
            return Readiness(False, "no weights folder: set ATELIER_PLUGIN_GENERATION_MIN_DALLE_MODELS_ROOT "
                                    "to a folder holding min-dalle's downloaded weights")
        missing = [str(p.relative_to(self.root)) for p in self._weight_files() if not p.is_file()]
        if missing:
            return Readiness(False, f"weights missing in {self.root}: {', '.join(missing)}")
        return Readiness(True)

    def model_version(self) -> str:
        return f"min-dalle:{'mega' if self.is_mega else 'mini'}:{_files_digest(self._weight_files())}"

    def _min_dalle(self):
        with self._lock:
            if self._model is None:
                import torch

                with _min_dalle_offline():
                    from min_dalle import MinDalle

                    # min-dalle runs in half precision on a GPU (its own fp16 path), float32 elsewhere
                    dtype = torch.float16 if str(self.device).startswith("cuda") else torch.float32
                    self._model = MinDalle(models_root=str(self.root), dtype=dtype, device=self.device,
                                           is_mega=self.is_mega, is_reusable=True, is_verbose=False)
            return self._model

    def generate(self, prompt: str, *, count: int, seed: int, first: int = 0,
                 settings: SamplingSettings = SamplingSettings(),
                 on_preview: PreviewFn | None = None) -> Iterator[Candidate]:
        import torch

        from ml_core.dalle import candidate_seed

        model = self._min_dalle()
        for index in range(first, first + count):
            # One image per call with its own seed: candidate i is the same in any chunking.
            own_seed = candidate_seed(seed, index) % 2**31
            with torch.inference_mode():
                image = model.generate_image(text=prompt, seed=own_seed, grid_size=1, is_seamless=False,
                                             temperature=settings.temperature, top_k=settings.top_k or 256,
                                             supercondition_factor=self.supercondition_factor, is_verbose=False)
            yield Candidate(index, own_seed, image.convert("RGB"))


class _NoNetwork:
    """Stands in for `requests` inside min-dalle: its loader pings the Hugging Face hub on every start
    (`requests.get(.../config.json)`) and downloads missing files; Atelier checks the files first and
    never lets it reach the network."""

    @staticmethod
    def get(url, *args, **kwargs):
        if url.endswith("/config.json"):
            return None
        raise RuntimeError(f"min-dalle tried to download {url}: put the file in the weights folder instead")


@contextlib.contextmanager
def _min_dalle_offline():
    """Imports and starts min-dalle offline, undoing its import-time changes to torch (it turns off
    autograd and sets the thread count for the whole process)."""
    import torch

    grad, threads = torch.is_grad_enabled(), torch.get_num_threads()
    try:
        import min_dalle.min_dalle as module

        torch.set_grad_enabled(grad)
        torch.set_num_threads(threads)
        real, module.requests = module.requests, _NoNetwork
        try:
            yield
        finally:
            module.requests = real
    finally:
        torch.set_grad_enabled(grad)
        torch.set_num_threads(threads)


def autocast(device: str):
    """bf16 autocast on a CUDA device that has it (fp16 otherwise); nothing on a CPU (float32)."""
    import contextlib

    import torch

    if not str(device).startswith("cuda"):
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def batch_size_on(device: str) -> int:
    """The plugin's `batch_size` (any device) or `batch_size_cuda` on a GPU."""
    from atelier.plugin_api import plugin_setting
    from plugins.generation.plugin import PLUGIN

    key = "batch_size_cuda" if str(device).startswith("cuda") else "batch_size"
    return int(plugin_setting(PLUGIN, key))


def builtin_backends() -> list:
    """This plugin's backends, configured from its settings, on the worker's device (one instance
    per configuration, so loaded weights stay loaded in a worker)."""
    from atelier.plugin_api import plugin_setting, worker_device
    from plugins.generation.plugin import PLUGIN

    device = worker_device()
    return list(_backends(plugin_setting(PLUGIN, "dalle_weights") or None, batch_size_on(device),
                          plugin_setting(PLUGIN, "min_dalle_models_root") or None,
                          plugin_setting(PLUGIN, "min_dalle_mega"), device))


@functools.lru_cache(maxsize=4)
def _backends(dalle_weights, batch_size, min_dalle_root, min_dalle_mega, device) -> tuple:
    return (AtelierDalleBackend(dalle_weights, batch_size=batch_size, device=device),
            MinDalleBackend(min_dalle_root, is_mega=min_dalle_mega, device=device))
