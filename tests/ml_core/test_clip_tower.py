"""The demo CLIP's image tower: a timm-registered conv net that open_clip builds from the config,
keeps WHERE things are (a flattened 4x4 map + coordinate channels) and has no pretrained weights."""
import json

import open_clip
import pytest
import timm
import torch

import ml_core.clip  # noqa: F401  (registers the tower)
from ml_core.clip.registry import CONFIG_DIR, DEMO_ARCH, register_atelier_configs
from ml_core.clip.tower import ConvTower


def test_demo_config_builds_the_registered_tower():
    cfg = json.loads((CONFIG_DIR / f"{DEMO_ARCH}.json").read_text())
    assert cfg["vision_cfg"]["timm_model_name"] == "atelier_conv64"
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
