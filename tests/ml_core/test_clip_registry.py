"""Spec parsing: every documented form, normalisation, and helpful errors (no weights touched)."""

import pytest

from ml_core.clip import ModelSpecError, configured_spec, resolve_model_spec


@pytest.mark.parametrize("spec, kind, canonical", [
    ("demo", "demo", "demo"),
    ("open_clip:ViT-B-32/laion2b_s34b_b79k", "open_clip", "open_clip:ViT-B-32/laion2b_s34b_b79k"),
    ("ViT-B-32/openai", "open_clip", "open_clip:ViT-B-32/openai"),
    ("ViT-B-32/LAION2B-s34b-b79k", "open_clip", "open_clip:ViT-B-32/laion2b_s34b_b79k"),
    ("hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "hf-hub", "hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K"),
    ("file:/models/ckpt.pt?arch=ViT-B-32", "file", "file:/models/ckpt.pt?arch=ViT-B-32"),
    ("file:/models/folder", "file", "file:/models/folder"),
    ("random:atelier-demo-clip", "random", "random:atelier-demo-clip"),
    ("  demo \n", "demo", "demo"),
])
def test_spec_forms(spec, kind, canonical):
    parsed = resolve_model_spec(spec)
    assert parsed.kind == kind and parsed.canonical == canonical == str(parsed)
    assert resolve_model_spec(parsed.canonical) == parsed


def test_relative_file_path_becomes_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_model_spec("file:ckpt.pt?arch=ViT-B-32").location == str(tmp_path / "ckpt.pt")


@pytest.mark.parametrize("spec, fragment", [
    ("ViT-B-32", "random:ViT-B-32"),  # no tag: says how to name one
    ("vit-b-32/openai", "Did you mean 'ViT-B-32'"),
    ("ViT-B-32/no_such_tag", "laion2b_s34b_b79k"),
    ("NoSuchNet/openai", "unknown CLIP architecture"),
    ("hf-hub:justone", "hf-hub:<org>/<repo>"),
    ("file:/x.pt?size=3", "?arch="),
    ("file:?arch=ViT-B-32", "needs a path"),
    ("random:nope", "unknown CLIP architecture"),
    ("", "ATELIER_CLIP_MODEL"),
])
def test_bad_specs_explain_themselves(spec, fragment):
    with pytest.raises(ModelSpecError) as info:
        resolve_model_spec(spec)
    assert fragment in str(info.value)


def test_default_comes_from_the_configuration_never_the_environment(monkeypatch, ml_config):
    from ml_core.config import config_from_env

    monkeypatch.setenv("ATELIER_CLIP_MODEL", "ViT-B-32/openai")
    assert configured_spec() == "demo" and resolve_model_spec().kind == "demo"   # ml_core reads no env
    ml_config(clip_model="ViT-B-32/openai")
    assert resolve_model_spec().canonical == "open_clip:ViT-B-32/openai"
    monkeypatch.setenv("ATELIER_TORCH_THREADS", "3")
    monkeypatch.setenv("ATELIER_CLIP_DEMO_DIR", "~/clip")
    cli = config_from_env()   # what command-line entry points use
    assert (cli.clip_model, cli.torch_threads, cli.demo_weights_dir.name) == ("ViT-B-32/openai", 3, "clip")
    monkeypatch.setenv("ATELIER_TORCH_THREADS", "many")
    with pytest.raises(ValueError, match="ATELIER_TORCH_THREADS"):
        config_from_env()
