"""Loading weights offline, in every format real weights come in, through the registry.

A randomly initialised ViT-B-32 (seed 1, so it differs from the registry's own seed-0 random init)
and a demo-config model are written as checkpoint files, model folders, Hugging Face cache
snapshots and open_clip pretrained-tag caches; each is loaded with ``create_engine`` and must give
the same weights and the same embeddings as the model that was written. ViT-B-32 has ~150 M
parameters, so it is built once per module and each loaded copy is dropped right after its test.
"""

import gc
import json
import pickle

import numpy as np
import open_clip
import pytest
import torch
from open_clip.transform import PreprocessCfg, image_transform_v2
from safetensors.torch import save_file

from ml_core.clip import ModelNotReadyError, ModelWeightsError, create_engine, model_status, save_pretrained
from ml_core.clip.registry import DEMO_ARCH, register_atelier_configs

TAG_REPO = "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"
OPENAI_REPO = "timm/vit_base_patch32_clip_224.openai"
TEXTS = ["a photo of a dog", "sunset over the sea"]


def _reference(arch, seed=1):
    register_atelier_configs()
    torch.manual_seed(seed)
    model = open_clip.create_model(arch, pretrained=None).eval()
    return model, open_clip.get_model_config(arch)


def _expected(model, arch, image):
    """Embeddings computed with plain open_clip: the parity reference."""
    transform = image_transform_v2(PreprocessCfg(**model.visual.preprocess_cfg), is_train=False)
    tokenizer = open_clip.get_tokenizer(arch)
    with torch.no_grad():
        img = model.encode_image(transform(image)[None], normalize=True)
        txt = model.encode_text(tokenizer(TEXTS), normalize=True)
    return img.numpy(), txt.numpy()


def _check_matches(engine, reference, expected, image):
    loaded = engine.model.state_dict()
    for key, value in reference.state_dict().items():
        assert torch.equal(loaded[key].cpu(), value), key
    img, txt = expected
    result = engine.encode_images([image])
    assert not result.errors
    atol = 2e-5 if engine.device.type == "cpu" else 5e-3  # CUDA runs under fp16 autocast
    np.testing.assert_allclose(result.vectors, img, atol=atol)
    np.testing.assert_allclose(engine.encode_texts(TEXTS, use_cache=False), txt, atol=atol)


@pytest.fixture(scope="module")
def photo(make_photo):
    return make_photo(320, 240, seed=3)


@pytest.fixture(scope="module")
def vitb32(tmp_path_factory, photo, hf_repo_writer):
    """One random ViT-B-32, its reference embeddings and its weights in every format (files are
    hard links into one safetensors and one pickle, as the hub cache shares blobs)."""
    model, cfg = _reference("ViT-B-32")
    root = tmp_path_factory.mktemp("vitb32")
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(root / "weights.safetensors"))
    torch.save({"epoch": 32, "state_dict": {f"module.{k}": v for k, v in state.items()}}, root / "train.pt")
    torch.save(state, root / "plain.bin")
    config = json.dumps({"model_cfg": cfg, "preprocess_cfg": {"mean": list(open_clip.OPENAI_DATASET_MEAN),
                                                              "std": list(open_clip.OPENAI_DATASET_STD)}})
    hub = root / "hub"
    hf_repo_writer(hub, "atelier-test/vit-b-32", {
        "open_clip_config.json": config.encode(), "open_clip_model.safetensors": root / "weights.safetensors"})
    tags = root / "tag-cache"
    hf_repo_writer(tags, TAG_REPO, {"open_clip_pytorch_model.bin": root / "plain.bin"})
    hf_repo_writer(tags, OPENAI_REPO, {"open_clip_model.safetensors": root / "weights.safetensors"})
    yield {"model": model, "root": root, "hub": hub, "tags": tags, "expected": _expected(model, "ViT-B-32", photo)}
    del model
    gc.collect()


def test_vitb32_training_checkpoint_file(vitb32, photo):
    """An open_clip training checkpoint: {"epoch", "state_dict"} with DDP's "module." prefix."""
    engine = create_engine(f"file:{vitb32['root'] / 'train.pt'}?arch=ViT-B-32")
    assert engine.model_id.startswith("file:") and len(engine.model_id) == len("file:") + 16
    assert engine.embed_dim == 512 and engine.image_size == 224
    _check_matches(engine, vitb32["model"], vitb32["expected"], photo)


def test_vitb32_hf_hub_cache_offline(vitb32, photo, hf_offline):
    hf_offline.point_at(vitb32["hub"])
    engine = create_engine("hf-hub:atelier-test/vit-b-32")
    assert engine.model_id == "hf-hub:atelier-test/vit-b-32"
    _check_matches(engine, vitb32["model"], vitb32["expected"], photo)


def test_vitb32_pretrained_tag_from_open_clip_cache_dir(vitb32, photo, hf_offline):
    engine = create_engine("ViT-B-32/laion2b_s34b_b79k", cache_dir=str(vitb32["tags"]))
    assert engine.model_id == "open_clip:ViT-B-32/laion2b_s34b_b79k"
    assert str(engine.weights_path).startswith(str(vitb32["tags"]))
    # the preprocessing is the tag's own open_clip transform
    reference = open_clip.image_transform(224, is_train=False, mean=open_clip.OPENAI_DATASET_MEAN,
                                          std=open_clip.OPENAI_DATASET_STD)
    assert torch.equal(engine.preprocess(photo), reference(photo))
    _check_matches(engine, vitb32["model"], vitb32["expected"], photo)


def test_openai_tag_uses_quick_gelu(vitb32, hf_offline):
    """open_clip's openai weights were trained with QuickGELU; loading them into GELU is wrong."""
    engine = create_engine("ViT-B-32/openai", cache_dir=str(vitb32["tags"]))
    assert engine.model_id == "open_clip:ViT-B-32/openai"
    assert isinstance(engine.model.visual.transformer.resblocks[0].mlp.gelu, open_clip.model.QuickGELU)


def test_missing_tag_names_cache_path_and_fix(tmp_path, hf_offline):
    with pytest.raises(ModelWeightsError) as info:
        create_engine("ViT-B-32/laion2b_s34b_b79k", cache_dir=str(tmp_path))
    message = str(info.value)
    assert "open_clip:ViT-B-32/laion2b_s34b_b79k" in message
    assert str(tmp_path / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K") in message
    assert "ATELIER_CLIP_MODEL=file:" in message


# ---- the demo architecture: small, so every format and failure is cheap -------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory, photo):
    model, cfg = _reference(DEMO_ARCH)
    root = tmp_path_factory.mktemp("demo")
    return {"model": model, "cfg": cfg, "root": root, "expected": _expected(model, DEMO_ARCH, photo)}


def test_demo_not_ready_names_training_command(tmp_path, ml_config):
    ml_config(demo_weights_dir=tmp_path / "absent")
    with pytest.raises(ModelNotReadyError) as info:
        create_engine("demo")
    assert "python -m ml_core.train clip" in str(info.value)
    assert str(tmp_path / "absent") in str(info.value)
    status = model_status("demo")
    assert not status.ready and "python -m ml_core.train clip" in status.message


@pytest.mark.parametrize("safetensors", [True, False])
def test_demo_folder_from_save_pretrained(demo, photo, ml_config, safetensors):
    folder = demo["root"] / f"demo-{safetensors}"
    weights = save_pretrained(demo["model"], folder, model_cfg=demo["cfg"], safetensors=safetensors)
    ml_config(demo_weights_dir=folder)
    engine = create_engine("demo")
    assert engine.model_id.startswith("demo:") and engine.weights_path == weights
    assert model_status("demo").model_id == engine.model_id
    _check_matches(engine, demo["model"], demo["expected"], photo)
    same = create_engine(f"file:{folder}")
    assert same.model_id == "file:" + engine.model_id.split(":")[1]
    _check_matches(same, demo["model"], demo["expected"], photo)


def test_demo_config_file_with_arch_and_hub_bin(demo, photo, hf_offline, hf_repo_writer):
    path = demo["root"] / "demo.bin"
    torch.save(demo["model"].state_dict(), path)
    _check_matches(create_engine(f"file:{path}?arch={DEMO_ARCH}"), demo["model"], demo["expected"], photo)
    config = json.dumps({"model_cfg": demo["cfg"]}).encode()
    hf_repo_writer(hf_offline.cache, "atelier/demo", {"open_clip_config.json": config,
                                                     "open_clip_pytorch_model.bin": path})
    _check_matches(create_engine("hf-hub:atelier/demo"), demo["model"], demo["expected"], photo)


def test_model_id_changes_with_weights(demo, tmp_path):
    first, second = tmp_path / "a.bin", tmp_path / "b.bin"
    torch.save(demo["model"].state_dict(), first)
    changed = {k: v + 1 if k == "logit_scale" else v for k, v in demo["model"].state_dict().items()}
    torch.save(changed, second)
    ids = {model_status(f"file:{p}?arch={DEMO_ARCH}").model_id for p in (first, second)}
    assert len(ids) == 2


def test_missing_file_error(tmp_path):
    with pytest.raises(ModelWeightsError) as info:
        create_engine(f"file:{tmp_path / 'nope.pt'}?arch=ViT-B-32")
    assert str(tmp_path / "nope.pt") in str(info.value) and "ATELIER_CLIP_MODEL" in str(info.value)
    copy = pickle.loads(pickle.dumps(info.value))  # task errors cross process boundaries
    assert type(copy) is ModelWeightsError and str(copy) == str(info.value) and copy.path == info.value.path


def test_damaged_and_mismatched_weights(demo, tmp_path):
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(ModelWeightsError, match="damaged or does not fit") as info:
        create_engine(f"file:{damaged}?arch={DEMO_ARCH}")
    assert str(damaged) in str(info.value)
    partial = tmp_path / "partial.pt"
    state = dict(demo["model"].state_dict())
    state.pop("text_projection")
    torch.save(state, partial)
    with pytest.raises(ModelWeightsError, match="text_projection"):
        create_engine(f"file:{partial}?arch={DEMO_ARCH}")


def test_file_without_arch_or_config(demo, tmp_path):
    path = tmp_path / "lonely.pt"
    torch.save(demo["model"].state_dict(), path)
    with pytest.raises(ModelWeightsError, match=r"\?arch="):
        create_engine(f"file:{path}")


def test_hf_repo_not_cached(hf_offline):
    with pytest.raises(ModelWeightsError) as info:
        create_engine("hf-hub:nobody/nothing")
    assert "models--nobody--nothing" in str(info.value)
