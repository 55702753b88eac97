"""Scene -> pixels, at any resolution.

The background is computed with numpy at the target size (gradients and sinusoid textures are
smooth, so they need no antialiasing), nearest-upsampled to a supersampled canvas, the objects
are drawn there as polygons by PIL, and a box `reduce` brings it back: exact box-filter
antialiasing at the cost of one small canvas per image. Object outlines are defined in unit
coordinates (radius 1) and scaled by the object's relative size, so every size is the same scene.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from PIL import Image, ImageDraw

from .scene import Background, Obj, Scene
from .vocab import BACKGROUNDS, COLOURS


def _star(points: int = 5, inner: float = 0.45) -> list[tuple[float, float]]:
    return [((1 if i % 2 == 0 else inner) * math.sin(math.pi * i / points),
             -(1 if i % 2 == 0 else inner) * math.cos(math.pi * i / points))
            for i in range(2 * points)]


def _regular(n: int, phase: float = 0.0) -> list[tuple[float, float]]:
    return [(math.sin(2 * math.pi * i / n + phase), -math.cos(2 * math.pi * i / n + phase))
            for i in range(n)]


def _heart(n: int = 48) -> list[tuple[float, float]]:
    pts = []
    for i in range(n):
        t = 2 * math.pi * i / n
        x = 16 * math.sin(t) ** 3
        y = -(13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t))
        pts.append((x / 16.5, (y + 2.5) / 15.5))  # centre the bounding box, fit in the unit circle
    return pts


_W = 0.32  # cross arm half-width
# Unit outlines (y down), each fitting the unit circle with a similar visual weight.
SHAPE_POLYGONS: dict[str, list[tuple[float, float]]] = {
    "circle": _regular(64),
    "square": [(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)],
    "triangle": [(0.0, -0.95), (0.95, 0.75), (-0.95, 0.75)],
    "star": _star(),
    "cross": [(-_W, -1), (_W, -1), (_W, -_W), (1, -_W), (1, _W), (_W, _W), (_W, 1), (-_W, 1),
              (-_W, _W), (-1, _W), (-1, -_W), (-_W, -_W)],
    "heart": _heart(),
    "diamond": [(0.0, -1.0), (0.68, 0.0), (0.0, 1.0), (-0.68, 0.0)],
    "hexagon": _regular(6),
}


def supersample_factor(size: int) -> int:
    """4x for small images (where edges matter most), 2x above 128 px."""
    return 4 if size <= 128 else 2


def object_polygon(obj: Obj, canvas: int) -> list[tuple[float, float]]:
    """The object's outline in canvas pixels (rotation applied)."""
    r = obj.scale / 2 * canvas
    c, s = math.cos(math.radians(obj.rotation)), math.sin(math.radians(obj.rotation))
    cx, cy = obj.x * canvas, obj.y * canvas
    return [(cx + r * (u * c - v * s), cy + r * (u * s + v * c)) for u, v in SHAPE_POLYGONS[obj.shape]]


@lru_cache(maxsize=16)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    t = (np.arange(size, dtype=np.float32) + 0.5) / size
    return t[None, :].repeat(size, 0), t[:, None].repeat(size, 1)  # xx, yy: (S, S)


def render_background(bg: Background, size: int) -> np.ndarray:
    """(S, S, 3) uint8 background."""
    base = np.asarray(BACKGROUNDS[bg.colour], np.float32)
    if bg.kind == "plain":
        return np.broadcast_to(base.astype(np.uint8), (size, size, 3)).copy()
    xx, yy = _grid(size)
    a = math.radians(bg.angle)
    u = (xx - 0.5) * math.cos(a) + (yy - 0.5) * math.sin(a)  # (S, S)
    if bg.kind == "gradient":
        t = np.clip(u / 1.4143 + 0.5, 0, 1)[..., None]
        img = base * (1 - t) + np.asarray(BACKGROUNDS[bg.colour2], np.float32) * t
    else:
        img = base + 18.0 * _texture(bg, xx, yy, u)[..., None]
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def _texture(bg: Background, xx, yy, u) -> np.ndarray:
    """Zero-mean pattern in [-1, 1], (S, S), defined in relative coordinates."""
    f = 2 * math.pi * bg.frequency
    if bg.pattern == "stripes":
        return np.sin(f * u)
    if bg.pattern == "checker":
        return np.sin(f * xx) * np.sin(f * yy)
    grid = np.random.default_rng(bg.seed).uniform(-1, 1, (6, 6)).astype(np.float32)
    img = Image.fromarray(grid).resize(xx.shape[::-1], Image.BICUBIC)
    return np.clip(np.asarray(img), -1, 1)


def render(scene: Scene, size: int = 64, ss: int | None = None) -> np.ndarray:
    """(size, size, 3) uint8 RGB image of the scene."""
    ss = ss or supersample_factor(size)
    canvas = size * ss
    img = Image.fromarray(render_background(scene.background, size))
    if ss > 1:
        img = img.resize((canvas, canvas), Image.NEAREST)
    draw = ImageDraw.Draw(img)
    for obj in scene.objects:  # later objects are drawn over earlier ones
        draw.polygon(object_polygon(obj, canvas), fill=COLOURS[obj.colour])
    if ss > 1:
        img = img.reduce(ss)
    return np.array(img)  # writable copy (torch.from_numpy warns on read-only arrays)


def render_batch(scenes, size: int = 64, ss: int | None = None) -> np.ndarray:
    """(N, size, size, 3) uint8."""
    out = np.empty((len(scenes), size, size, 3), np.uint8)
    for i, scene in enumerate(scenes):
        out[i] = render(scene, size, ss)
    return out


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) or (H, W, 3) -> float (N, 3, H, W) / (3, H, W) in [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(images))
    return t.movedim(-1, -3).float().div_(255)
