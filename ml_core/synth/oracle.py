"""The oracle: a small CNN that reads a synthetic image's ground truth back from its pixels.

It judges generated images and VQ reconstructions independently of CLIP. Heads (label lists in
HEADS, indices into the vocab tuples):

  layout            single | pair_h | pair_v   (one kind of object, or a left/right or top/bottom pair)
  colour, shape     single: the objects' colour and shape; pair: the FIRST object = left (pair_h)
                    or top (pair_v) one
  colour2, shape2   pair only: the second object (right / bottom)
  count, position, size   single only: 1-3, left/right/top/bottom/centre, small/large

So "a red circle to the left of a blue square" holds when layout == pair_h, colour/shape ==
red/circle and colour2/shape2 == blue/square; "a blue square above a red circle" when layout ==
pair_v, first = blue square, second = red circle. Heads that do not apply to the predicted layout
are reported as None. Input: RGB at `config.size` px (64); other sizes are resized with
antialiased bilinear interpolation first (see `prepare`).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .scene import Scene
from .vocab import COLOUR_NAMES, POSITION_NAMES, SHAPE_NAMES, SIZE_NAMES

LAYOUTS = ("single", "pair_h", "pair_v")
HEADS: dict[str, tuple] = {
    "layout": LAYOUTS, "colour": COLOUR_NAMES, "shape": SHAPE_NAMES,
    "colour2": COLOUR_NAMES, "shape2": SHAPE_NAMES,
    "count": (1, 2, 3), "position": POSITION_NAMES, "size": SIZE_NAMES,
}
SINGLE_HEADS = ("count", "position", "size")
PAIR_HEADS = ("colour2", "shape2")
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "weights" / "oracle"


@dataclass
class OracleConfig:
    size: int = 64  # input resolution
    width: int = 32  # channels of the first convolutions
    hidden: int = 192


def ordered_pair(scene: Scene):
    """(first, second, layout) of a pair scene: first is the left (pair_h) or top (pair_v) object."""
    a, b = scene.objects
    if scene.relation.predicate in ("left of", "right of"):
        return (a, b, "pair_h") if a.x < b.x else (b, a, "pair_h")
    return (a, b, "pair_v") if a.y < b.y else (b, a, "pair_v")


def scene_labels(scene: Scene) -> dict:
    """The values the oracle should read (same keys as Oracle.predict; None = not applicable)."""
    out = dict.fromkeys(HEADS)
    if scene.kind == "pair":
        first, second, layout = ordered_pair(scene)
        out.update(layout=layout, colour=first.colour, shape=first.shape,
                   colour2=second.colour, shape2=second.shape)
    else:
        o = scene.first
        out.update(layout="single", colour=o.colour, shape=o.shape, count=scene.count,
                   position=scene.position, size=o.size)
    return out


def scene_targets(scene: Scene) -> list[int]:
    """Class index per head in HEADS order, -100 (ignored by cross_entropy) when not applicable."""
    labels = scene_labels(scene)
    return [-100 if labels[h] is None else HEADS[h].index(labels[h]) for h in HEADS]


class OracleNet(nn.Module):
    """64 px -> two stride-2 convs (16 px) -> 3x3 conv stack -> 4x4 map -> MLP -> one linear per head.
    The flattened 4x4 map (not a global pool) keeps where things are, which position and
    left/right reading need."""

    def __init__(self, cfg: OracleConfig):
        super().__init__()
        w = cfg.width

        def block(i, o, k=3, s=1):
            return [nn.Conv2d(i, o, k, s, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *block(3, w, 4, 2), *block(w, w, 4, 2),            # (B, w, S/4, S/4)
            *block(w, 2 * w), nn.MaxPool2d(2),                 # (B, 2w, S/8, S/8)
            *block(2 * w, 4 * w), nn.MaxPool2d(2),             # (B, 4w, S/16, S/16)
            *block(4 * w, 4 * w), nn.AdaptiveAvgPool2d(4),     # (B, 4w, 4, 4)
            nn.Flatten(), nn.Linear(4 * w * 16, cfg.hidden), nn.ReLU(inplace=True),
        )
        self.heads = nn.ModuleDict({h: nn.Linear(cfg.hidden, len(v)) for h, v in HEADS.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x: (B, 3, S, S) float in [0, 1] -> {head: (B, n_classes) logits}."""
        z = self.features(x - 0.5)
        return {h: head(z) for h, head in self.heads.items()}


def prepare(images, size: int) -> torch.Tensor:
    """uint8 (B, H, W, 3) / (H, W, 3) numpy, or float (B, 3, H, W) in [0, 1] -> float (B, 3, size, size)."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
        if images.ndim == 3:
            images = images[None]
        images = images.permute(0, 3, 1, 2).float() / 255
    elif images.dtype == torch.uint8:
        images = images.float() / 255
    if images.ndim == 3:
        images = images[None]
    if images.shape[-1] != size or images.shape[-2] != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True,
                               align_corners=False)
    return images


class Oracle:
    """Loaded oracle: `predict(images)` -> one dict of readings per image; `check` compares to scenes."""

    def __init__(self, net: OracleNet, cfg: OracleConfig):
        self.net, self.cfg = net.eval(), cfg

    @classmethod
    def load(cls, path: str | Path = DEFAULT_DIR, device: str = "cpu") -> "Oracle":
        path = Path(path)
        cfg = OracleConfig(**json.loads((path / "config.json").read_text())["model"])
        net = OracleNet(cfg)
        state = torch.load(path / "oracle.pt", map_location="cpu", weights_only=True)
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        return cls(net.to(device), cfg)

    @torch.no_grad()
    def logits(self, images, batch_size: int = 512) -> dict[str, torch.Tensor]:
        x = prepare(images, self.cfg.size)
        dev = next(self.net.parameters()).device
        outs = [self.net(x[i:i + batch_size].to(dev)) for i in range(0, len(x), batch_size)]
        return {h: torch.cat([o[h] for o in outs]).cpu() for h in HEADS}

    def predict(self, images, batch_size: int = 512) -> list[dict]:
        """Readings per image, keyed like scene_labels (heads not applying to the layout -> None)."""
        idx = {h: v.argmax(-1).tolist() for h, v in self.logits(images, batch_size).items()}
        out = []
        for i in range(len(idx["layout"])):
            d = {h: HEADS[h][idx[h][i]] for h in HEADS}
            skip = PAIR_HEADS if d["layout"] == "single" else SINGLE_HEADS
            out.append({h: (None if h in skip else v) for h, v in d.items()})
        return out

    def check(self, images, scenes: list[Scene]) -> list[dict[str, bool]]:
        """Per image, per applicable head: does the reading match the scene? Plus 'all'."""
        res = []
        for pred, scene in zip(self.predict(images), scenes):
            want = scene_labels(scene)
            ok = {h: pred[h] == v for h, v in want.items() if v is not None}
            ok["all"] = all(ok.values())
            res.append(ok)
        return res


def accuracy(checks: list[dict[str, bool]]) -> dict[str, float]:
    """Mean of each key over the checks that have it."""
    keys = sorted({k for c in checks for k in c})
    return {k: float(np.mean([c[k] for c in checks if k in c])) for k in keys}


def save(net: OracleNet, cfg: OracleConfig, out: str | Path, extra: dict) -> Path:
    """Half-precision weights (oracle.pt, ~1.3 MB) + config.json (model config, heads, training facts)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    torch.save(state, out / "oracle.pt")
    meta = {"model": asdict(cfg), "heads": {h: list(v) for h, v in HEADS.items()},
            "input": f"RGB float in [0,1], resized to {cfg.size}x{cfg.size} (bilinear, antialias)",
            **extra}
    (out / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out
