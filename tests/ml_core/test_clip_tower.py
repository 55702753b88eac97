"""The demo CLIP's image tower: a timm-registered conv net that open_clip builds from the config,
keeps WHERE things are (a flattened 4x4 map + coordinate channels) and has no pretrained weights."""
import json

import numpy as np

import open_clip
import pytest
import timm
import torch

import ml_core.clip  # noqa: F401  (registers the tower)
from ml_core.clip.registry import CONFIG_DIR, DEMO_ARCH, register_atelier_configs
from ml_core.clip.tower import ConvTower


def test_demo_config_builds_the_registered_tower():
    cfg = json.loads((CONFIG_DIR / f"{DEMO_ARCH}.json").read_text())
    assert cfg["vision_cfg"]["timm_model_name"] == "atelier_conv64_factored"
    register_atelier_configs()
    model = open_clip.create_model(DEMO_ARCH, pretrained=None, pretrained_image=False, device="cpu").eval()
    assert isinstance(model.visual.trunk, ConvTower) and len(model.visual.head) == 0
    assert model.visual.preprocess_cfg["size"] in (64, (64, 64))
    with torch.no_grad():
        out = model.encode_image(torch.randn(3, 3, 64, 64), normalize=True)
    assert out.shape == (3, 128) and torch.allclose(out.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert sum(p.numel() for p in model.visual.parameters()) < 1_500_000


def test_tower_sees_where_things_are():
    torch.manual_seed(0)
    tower = ConvTower(width=8, hidden=32, num_classes=16, head="hybrid", coords=True, stem="k4").eval()
    image = torch.zeros(1, 3, 64, 64)
    image[..., 10:22, 8:20] = 1.0  # a square top-left
    flipped = image.flip(-1)  # the same square top-right
    with torch.no_grad():
        a, b = tower(image), tower(flipped)
    assert a.shape == (1, 16) and not torch.allclose(a, b, atol=1e-4)


def test_timm_factory_contract():
    tower = timm.create_model("atelier_conv64", num_classes=128, global_pool="flatten")
    assert tower(torch.randn(2, 3, 64, 64)).shape == (2, 128)
    tower.reset_classifier(0)
    assert tower(torch.randn(2, 3, 64, 64)).shape == (2, 256)
    with pytest.raises(ValueError):
        timm.create_model("atelier_conv64", num_classes=128, global_pool="avg")
    with pytest.raises(ValueError):
        timm.create_model("atelier_conv64", pretrained=True)


def _normalise(rgb01: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
    return (rgb01 - mean) / std


def _world_images(n: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    """(normalised renders (n, 3, 64, 64), object masks (n, 1, 64, 64)) of single train scenes."""
    from ml_core.synth import render_batch, scene_at
    from ml_core.synth.render import render_background

    scenes = [scene_at(0, i, "train", "single") for i in range(n)]
    img = torch.from_numpy(render_batch(scenes, 64)).permute(0, 3, 1, 2).float() / 255
    bg = torch.from_numpy(np.stack([render_background(s.background, 64) for s in scenes]))
    bg = bg.permute(0, 3, 1, 2).float() / 255
    return _normalise(img), ((img - bg).abs().amax(1, keepdim=True) > 0.2)


def test_saturation_separates_every_object_from_every_background():
    """The factored tower's shape trunk sees only HSV saturation; that works because the world's
    object colours are saturated and its backgrounds neutral (checked on real renders)."""
    tower = ConvTower(width=8, hidden=32, num_classes=16, stem="k4", trunk_input="saturation").eval()
    x, objects = _world_images()
    sat = tower.saturation(x)
    grown = torch.nn.functional.max_pool2d(objects.float(), 5, 1, 2).bool()
    interior = ~torch.nn.functional.max_pool2d((~objects).float(), 3, 1, 1).bool()  # no edge pixels
    assert sat.shape == (24, 1, 64, 64) and interior.sum() > 24 * 20
    assert sat[~grown].max() < 0.25 and sat[interior].min() > 0.5


def test_factored_tower_trunk_is_hue_blind_and_colour_branch_is_shape_blind():
    torch.manual_seed(0)
    tower = ConvTower(width=8, hidden=32, num_classes=16, stem="k4", trunk_input="saturation",
                      colour_branch="head").eval()
    x, _ = _world_images(4)
    rgb01 = x * torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1) \
        + torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    recoloured = _normalise(rgb01[:, [2, 0, 1]])  # every hue rotated, saturation unchanged
    with torch.no_grad():
        trunk = lambda im: tower.features(tower.saturation(im))  # noqa: E731
        assert torch.allclose(trunk(x), trunk(recoloured), atol=1e-4)
        assert not torch.allclose(tower(x), tower(recoloured), atol=1e-3)  # the colour branch sees it
        # Move 2x2 blocks around inside each 16x16 cell: shapes are destroyed, the colour branch
        # (per-pixel after 2x2 averaging, max over the cell) must not notice.
        blocks = x.unfold(2, 2, 2).unfold(3, 2, 2)  # (B, 3, 32, 32, 2, 2)
        cells = blocks.reshape(4, 3, 4, 8, 4, 8, 2, 2)  # cell row, block row, cell col, block col
        shuffled = cells.flip(3).transpose(3, 5)  # reorder blocks within every cell
        scrambled = shuffled.permute(0, 1, 2, 3, 6, 4, 5, 7).reshape(4, 3, 64, 64)
        assert not torch.allclose(scrambled, x)
        assert torch.allclose(tower.colour(x), tower.colour(scrambled), atol=1e-5)


@pytest.mark.parametrize("name", ["atelier_conv64_split", "atelier_conv64_factored", "atelier_conv64_branch"])
def test_factored_towers_build_through_timm(name):
    tower = timm.create_model(name, num_classes=128, global_pool="flatten").eval()
    with torch.no_grad():
        assert tower(torch.randn(2, 3, 64, 64)).shape == (2, 128)


def test_split_tower_adds_colour_linearly():
    """"linear": a hue change moves the embedding only through the linear colour projection, so a
    colour direction learnt on circles is the same direction on stars."""
    torch.manual_seed(0)
    tower = ConvTower(width=8, hidden=32, num_classes=16, stem="k4", trunk_input="saturation",
                      colour_branch="linear").eval()
    x, _ = _world_images(4)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    recoloured = _normalise((x * std + mean)[:, [1, 2, 0]])
    with torch.no_grad():
        moved = tower(x) - tower(recoloured)
        through_colour = tower.colour_proj(tower.colour(x).flatten(1)) \
            - tower.colour_proj(tower.colour(recoloured).flatten(1))
    assert moved.abs().max() > 1e-3 and torch.allclose(moved, through_colour, atol=1e-5)
    tower.reset_classifier(0)  # timm's feature mode: both parts give the hidden width
    assert tower(x).shape == (4, 32)


def test_mask_trunk_sees_the_same_picture_whatever_the_colour():
    """"mask": the trunk's input is (nearly) identical for one scene drawn in any of the world's
    colours (raw saturation still separates pink 0.58 from orange 0.92), 1 inside objects, 0 on
    backgrounds."""
    from dataclasses import replace

    from ml_core.synth import render_batch, scene_at
    from ml_core.synth.vocab import COLOUR_NAMES

    tower = ConvTower(width=8, hidden=32, num_classes=16, stem="k4", trunk_input="mask",
                      colour_branch="linear").eval()
    scenes = [scene_at(0, i, "train", "single") for i in range(6)]
    masks = []
    for colour in COLOUR_NAMES:
        painted = [s.with_objects([replace(o, colour=colour) for o in s.objects]) for s in scenes]
        img = torch.from_numpy(render_batch(painted, 64)).permute(0, 3, 1, 2).float() / 255
        masks.append(tower.object_mask(_normalise(img)))
        saturation = tower.saturation(_normalise(img))
        if colour == "pink":
            assert saturation.amax() < 0.7  # raw saturation would tell pink apart
    masks = torch.stack(masks)  # (colours, scenes, 1, 64, 64)
    spread = masks.amax(0) - masks.amin(0)
    assert spread.mean() < 0.01 and (spread > 0.5).float().mean() < 0.01  # only anti-aliased edges differ
    _, objects = _world_images(6)
    interior = ~torch.nn.functional.max_pool2d((~objects).float(), 3, 1, 1).bool()
    grown = torch.nn.functional.max_pool2d(objects.float(), 5, 1, 2).bool()
    x, _ = _world_images(6)
    mask = tower.object_mask(x)
    assert mask[interior].min() == 1.0 and mask[~grown].max() == 0.0
