"""Atelier's own image tower for the demo CLIP, registered as a timm model so open_clip builds it.

open_clip builds a vision tower from ``"timm_model_name"`` in a config's ``vision_cfg`` through
``timm.create_model``; registering our tower in timm's table (on ``import ml_core.clip``) makes
``open_clip.create_model``, ``open_clip.CLIP(**cfg)`` and ``local-dir:`` configs work unchanged,
and the weights load strictly like any open_clip model's. Config (atelier-demo-clip.json)::

    "vision_cfg": {"image_size": 64, "timm_model_name": "atelier_conv64_factored",
                   "timm_pool": "flatten", "timm_proj": null}

(``timm_proj: null``: the tower's own head projects to ``embed_dim``, open_clip adds nothing.)

Why this shape (docs/ml/demo_clip.md): the world's shapes are 11-18 px at 64 px, and open_clip's
ModifiedResNet blurred them into blobs (anti-aliased average pooling behind an 8-channel stem), so
the towers follow the world's oracle (ml_core/synth/oracle.py, 100 % on every attribute): two 4x4
stride-2 convs, 3x3 convs, max pools, no blur; and position / relations / colour binding need
WHERE things are, so the final 4x4 map is flattened and projected instead of pooled globally.
The shipped ``atelier_conv64_factored`` splits the work: a trunk that sees only saturation (shape,
count, position without hue) and a per-pixel colour branch on the same 4x4 grid. An RGB trunk
learns shapes per colour, which fails on held-out colour+shape pairs. The other names are the
variants probed; their results are in the docs.
"""
from __future__ import annotations

import torch
from timm.models import register_model
from open_clip import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from torch import nn

TOWERS = {  # name -> (width, hidden, head, coords, stem, trunk input, colour branch)
    "atelier_conv64": (32, 256, "flatten", False, "k4", "rgb", False),
    # hue-blind shape trunk + per-pixel colour branch (held-out colour+shape pairs, docs);
    # "factored" is the demo CLIP's tower, the others are compared with it in CHANGELOG.md (demo CLIP v3)
    "atelier_conv64_mask": (32, 256, "flatten", False, "k4", "mask", "linear"),
    "atelier_conv64_split": (32, 256, "flatten", False, "k4", "saturation", "linear"),
    "atelier_conv64_factored": (32, 256, "flatten", False, "k4", "saturation", "head"),
    "atelier_conv64_branch": (32, 256, "flatten", False, "k4", "rgb", "head"),
    # RGB variants the factored towers are measured against (CHANGELOG.md, demo CLIP v1, v2)
    "atelier_conv64_hc": (32, 256, "hybrid", True, "k4", "rgb", False),
    "atelier_conv64_full": (32, 256, "flatten", False, "full", "rgb", False),
    "atelier_conv64_hybrid": (32, 256, "hybrid", False, "full", "rgb", False),
    "atelier_conv64_coordpool": (32, 256, "pool", True, "full", "rgb", False),
}


def _block(i: int, o: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(i, o, 3, stride, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]


class ConvTower(nn.Module):
    """(B, 3, 64, 64) -> (B, num_classes). Shapes for width w, the shipped ``stem="k4"``:

    coords  (only with ``coords``) + y and x channels in [-1, 1]  (B, 5, 64, 64)
    stem    4x4 conv stride 2 -> w, 4x4 conv stride 2 -> 2w   (B, 2w, 16, 16)
    stage   3x3 conv 2w->2w                                    (B, 2w, 16, 16)
    stage   max pool, 3x3 conv 2w->4w                          (B, 4w, 8, 8)
    stage   max pool, 3x3 conv 4w->4w                          (B, 4w, 4, 4)
    head    "flatten" (shipped): flatten (16 cells x 4w) -> hidden -> ReLU -> num_classes
            "pool": max and mean over cells (2 x 4w); "hybrid": both, concatenated

    colour  (``colour_branch``) 2x2 average, two 1x1 convs (w/2), max over each 16 px cell:
            per-pixel colour on the same 4x4 grid, blind to shape; "head": concatenated before
            the head; "linear": projected linearly and ADDED to the head's output, so the
            embedding's colour directions cannot depend on shape (held-out colour+shape pairs)
    trunk   ``trunk_input="saturation"``: the convs see only HSV saturation, blind to hue;
            ``"mask"``: saturation ramped to a 0..1 object mask, blind to colour altogether, so
            shape features cannot depend on colour either

    (stem "full": 3x3 conv at 64 px, then 3x3 stride-2 convs.) Every conv is followed by
    BatchNorm and ReLU. The flattened map says where, pooled features say what wherever it is,
    coordinate channels let a pooled feature say both ("a red circle on the left").
    """

    def __init__(self, width: int = 32, hidden: int = 256, num_classes: int = 128, image_size: int = 64,
                 global_pool: str = "flatten", head: str = "flatten", coords: bool = False, stem: str = "full",
                 trunk_input: str = "rgb", colour_branch: str | None = None, **_ignored):
        super().__init__()
        if global_pool not in ("flatten", ""):
            raise ValueError(f"ConvTower keeps the spatial map (global_pool 'flatten'), got {global_pool!r}")
        w = width
        self.num_classes, self.num_features = num_classes, hidden  # timm: features before the classifier
        cells = 4 * w * (image_size // 16) ** 2
        self.mode, self.coords = head, coords
        if trunk_input not in ("rgb", "saturation", "mask"):
            raise ValueError(f"trunk_input must be 'rgb', 'saturation' or 'mask', got {trunk_input!r}")
        self.trunk_input = trunk_input
        c_in = (3 if trunk_input == "rgb" else 1) + (2 if coords else 0)
        stems = {
            "full": [*_block(c_in, w), *_block(w, w, 2), *_block(w, 2 * w, 2)],
            "half": [*_block(c_in, w // 2), *_block(w // 2, w, 2), *_block(w, 2 * w, 2)],
            "k4": [nn.Conv2d(c_in, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                   nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(inplace=True)],
        }
        self.features = nn.Sequential(
            *stems[stem], *_block(2 * w, 2 * w),
            nn.MaxPool2d(2), *_block(2 * w, 4 * w),
            nn.MaxPool2d(2), *_block(4 * w, 4 * w),
        )
        n_in = {"flatten": cells, "pool": 8 * w, "hybrid": cells + 8 * w}[head]
        # Per-pixel colour (1x1 convs cannot see shape) at half resolution (7x cheaper than full,
        # objects keep solid interiors), max-pooled onto the trunk's 4x4 grid.
        if colour_branch not in (None, False, "head", "linear"):
            raise ValueError(f"colour_branch must be None, 'head' or 'linear', got {colour_branch!r}")
        self.colour, self.colour_proj = None, None
        if colour_branch:
            cw = w // 2
            self.colour = nn.Sequential(
                nn.AvgPool2d(2),
                nn.Conv2d(3, cw, 1, bias=False), nn.BatchNorm2d(cw), nn.ReLU(inplace=True),
                nn.Conv2d(cw, cw, 1, bias=False), nn.BatchNorm2d(cw), nn.ReLU(inplace=True),
                nn.AdaptiveMaxPool2d(image_size // 16))
            colour_features = cw * (image_size // 16) ** 2
            if colour_branch == "head":  # concatenated before the MLP head
                n_in += colour_features
            else:  # added linearly to the output: colour directions cannot depend on shape
                self.colour_proj = nn.Linear(colour_features, num_classes or hidden)
        self.register_buffer("_mean", torch.tensor(OPENAI_DATASET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(OPENAI_DATASET_STD).view(1, 3, 1, 1), persistent=False)
        self.head = nn.Sequential(nn.Identity(), nn.Linear(n_in, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, num_classes))

    def reset_classifier(self, num_classes: int = 0, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        self.head[3] = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
        if self.colour_proj is not None:
            self.colour_proj = nn.Linear(self.colour_proj.in_features, num_classes or self.num_features)

    def saturation(self, x: torch.Tensor) -> torch.Tensor:
        """HSV saturation of the (normalised) input, (B, 1, H, W) in [0, 1]: every object colour
        of the world is > 0.55, every background < 0.2, so it shows shapes without their hue.
        The value is floored at 0.25 (no object colour is darker) so that near-black texture
        pixels, where a difference of 2 levels is "30 % saturated", stay near 0."""
        rgb = (x * self._std + self._mean).clamp(0, 1)
        top, bottom = rgb.amax(1, keepdim=True), rgb.amin(1, keepdim=True)
        return (top - bottom) / top.clamp(min=0.25)

    def object_mask(self, x: torch.Tensor) -> torch.Tensor:
        """Saturation ramped to 0 (< 0.25: every background) .. 1 (> 0.5: every object colour),
        (B, 1, H, W). Raw saturation still tells pink (0.58) from orange (0.92), and a trunk that
        sees it learns "crosses at 0.85 are cyan" and calls held-out blue crosses cyan (docs);
        the ramp leaves only where objects are."""
        return ((self.saturation(x) - 0.25) / 0.25).clamp(0, 1)

    def _trunk_input(self, x: torch.Tensor) -> torch.Tensor:
        if self.trunk_input == "saturation":
            return self.saturation(x)
        if self.trunk_input == "mask":
            return self.object_mask(x)
        return x

    def _head_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the MLP head reads: the trunk's map (flattened and/or pooled), plus the colour
        branch when it is concatenated ("head")."""
        t = self._trunk_input(x)
        if self.coords:
            b, _, h, w = t.shape
            ys = torch.linspace(-1, 1, h, device=t.device, dtype=t.dtype).view(1, 1, h, 1).expand(b, 1, h, w)
            xs = torch.linspace(-1, 1, w, device=t.device, dtype=t.dtype).view(1, 1, 1, w).expand(b, 1, h, w)
            t = torch.cat([t, ys, xs], 1)
        f = self.features(t)
        parts = []
        if self.mode in ("flatten", "hybrid"):
            parts.append(f.flatten(1))
        if self.mode in ("pool", "hybrid"):
            parts += [f.amax((2, 3)), f.mean((2, 3))]
        if self.colour is not None and self.colour_proj is None:
            parts.append(self.colour(x).flatten(1))
        return torch.cat(parts, 1)

    def parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """("linear" towers) the output as (blind-to-colour part, blind-to-shape part); their
        sum is ``forward(x)``. Training uses them to keep co-occurrence priors out of each part."""
        if self.colour_proj is None or self.trunk_input == "rgb":
            raise ValueError("parts() needs a tower with a colour-blind trunk and a linear colour branch")
        return self.head(self._head_input(x)), self.colour_proj(self.colour(x).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self._head_input(x))
        if self.colour_proj is not None:
            out = out + self.colour_proj(self.colour(x).flatten(1))
        return out


def _tower(name: str):
    width, hidden, head, coords, stem, trunk_input, colour_branch = TOWERS[name]

    def build(pretrained: bool = False, **kwargs) -> ConvTower:
        if pretrained:
            raise ValueError(f"{name} has no pretrained weights (it is trained by ml_core.train clip)")
        for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
            kwargs.pop(key, None)
        return ConvTower(width=width, hidden=hidden, head=head, coords=coords, stem=stem,
                         trunk_input=trunk_input, colour_branch=colour_branch, **kwargs)

    build.__name__ = name
    build.__doc__ = f"Atelier demo-CLIP conv tower, width {width}, hidden {hidden}."
    return build


for _name in TOWERS:
    register_model(_tower(_name))
