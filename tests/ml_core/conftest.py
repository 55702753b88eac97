"""Fixtures for ml_core tests. ml_core is Django-free, and so are its tests."""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw


@pytest.fixture(autouse=True)
def _isolated_media():
    """Shadows the platform's autouse fixture of the same name: ml_core tests need no Django."""
    return None


def synthetic_photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """A photo-like RGB image: gradient + noise + a few shapes (JPEG-compressible, not flat)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width, y / height, (x + y) / (width + height)], axis=-1) * 200
    base += rng.normal(0, 4, size=(height, width, 3))  # sensor-like noise, ~0.15 bytes/px at q90
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
        x1, y1 = x0 + int(rng.integers(20, width // 3)), y0 + int(rng.integers(20, height // 3))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=colour)
    return image


def jpeg_bytes(image: Image.Image, quality: int = 90, **save_kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, **save_kwargs)
    return buffer.getvalue()


def write_hf_repo(cache_root, repo_id: str, files: dict, revision: str = "0123456789abcdef0123456789abcdef01234567"):
    """Lay out ``files`` ({name: path or bytes}) exactly as huggingface_hub caches a download:
    ``models--org--name/blobs/<sha>``, ``snapshots/<rev>/<name>`` symlinks and ``refs/main``."""
    import hashlib
    import os
    from pathlib import Path

    repo = Path(cache_root) / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    for name, content in files.items():
        data = content if isinstance(content, bytes) else None
        key = hashlib.sha256(data if data is not None else str(content).encode()).hexdigest()
        blob = repo / "blobs" / key
        if data is not None:
            blob.write_bytes(data)
        elif not blob.exists():
            os.link(content, blob)
        os.symlink(os.path.relpath(blob, snapshot), snapshot / name)
    return snapshot


class HubOffline:
    """Points huggingface_hub at a cache folder in offline mode (env and the hub's constants, which
    huggingface_hub reads once at import)."""

    def __init__(self, monkeypatch, cache):
        self._monkeypatch = monkeypatch
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        self.point_at(cache)

    def point_at(self, cache):
        from huggingface_hub import constants

        self.cache = cache
        self._monkeypatch.setenv("HF_HUB_CACHE", str(cache))
        self._monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
        self._monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
        return self


@pytest.fixture
def hf_offline(tmp_path, monkeypatch):
    """Offline hub with an empty cache in tmp; ``.point_at(folder)`` switches to another cache."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    return HubOffline(monkeypatch, cache)


@pytest.fixture(scope="session")
def hf_repo_writer():
    return write_hf_repo


@pytest.fixture(scope="session")
def make_photo():
    return synthetic_photo


@pytest.fixture(scope="session")
def to_jpeg():
    return jpeg_bytes


@pytest.fixture
def ml_config():
    """``ml_config(field=value, ...)`` changes ml_core's configuration for one test."""
    from dataclasses import replace

    from ml_core.config import configure, current_config

    previous = current_config()
    yield lambda **changes: configure(replace(current_config(), **changes))
    configure(previous)
