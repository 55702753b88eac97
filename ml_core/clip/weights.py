"""Finding a model's weights on disk (or in a download cache) and writing them in that layout.

Each spec kind has its own place for weights. Locating them is split from building the model so
that a status page can ask "is this model ready?" (``locate_weights``) without spending seconds and
hundreds of megabytes on instantiating it, and so that every miss becomes a ``ModelWeightsError``
that names the path tried and the fix -- open_clip itself would log a warning and carry on with
random weights for some of these cases.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import open_clip
import torch
from open_clip import pretrained as oc_pretrained

from .errors import ModelNotReadyError, ModelWeightsError
from .registry import TRAIN_DEMO_COMMAND, ModelSpec, demo_weights_dir, register_atelier_configs

CONFIG_NAME = "open_clip_config.json"
SAFETENSORS_NAME = "open_clip_model.safetensors"
# Names open_clip and the Hugging Face hub use for full CLIP weights, most preferred first.
PREFERRED_NAMES = (
    SAFETENSORS_NAME, "open_clip_pytorch_model.safetensors", "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth", "model.safetensors", "pytorch_model.bin", "model.pt", "model.pth",
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_PREPROCESS_KEYS = ("mean", "std", "interpolation", "resize_mode", "fill_color")
FINGERPRINT_CHARS = 16


@dataclass(frozen=True)
class WeightsSource:
    """Everything needed to build one model: where its architecture and weights come from.

    ``arch`` is what ``open_clip.create_model`` gets: a registered name or ``local-dir:<folder>``
    (a folder with ``open_clip_config.json``, whose preprocess config then applies).
    ``path`` is ``None`` only for ``random:`` specs.
    """

    spec: ModelSpec
    arch: str
    path: Path | None
    model_id: str
    tokenizer_name: str
    quick_gelu: bool = False
    preprocess_overrides: dict = field(default_factory=dict)


def locate_weights(spec: ModelSpec, *, cache_dir: str | None = None) -> WeightsSource:
    """Find the weights of ``spec`` or raise ``ModelWeightsError`` (``ModelNotReadyError`` for demo).

    For open_clip tags and ``hf-hub:`` this may download on a connected machine; with
    ``HF_HUB_OFFLINE=1`` it only looks in the cache (``cache_dir``, else ``HF_HUB_CACHE``).
    """
    register_atelier_configs()
    if spec.kind == "random":
        return WeightsSource(spec, spec.arch, None, f"random:{spec.arch}", spec.arch)
    if spec.kind == "open_clip":
        return _locate_pretrained_tag(spec, cache_dir)
    if spec.kind == "hf-hub":
        return _locate_hf_repo(spec, cache_dir)
    if spec.kind == "file":
        return _locate_file(spec)
    return _locate_demo(spec)


def _locate_pretrained_tag(spec: ModelSpec, cache_dir: str | None) -> WeightsSource:
    cfg = open_clip.get_pretrained_cfg(spec.arch, spec.tag)
    try:
        path = Path(oc_pretrained.download_pretrained(cfg, cache_dir=cache_dir))
    except Exception as exc:  # open_clip raises RuntimeError, FileNotFoundError, URLError...
        raise ModelWeightsError(
            spec.canonical,
            f"the pretrained weights are not in the cache and could not be downloaded ({_first_line(exc)})",
            path=_expected_tag_location(cfg, cache_dir),
            hint="load the model once on a machine with internet access and copy its cache here "
            "(HF_HUB_CACHE, or the cache dir passed to Atelier), or download the checkpoint and set "
            f"ATELIER_CLIP_MODEL=file:/path/to/checkpoint?arch={spec.arch}",
        ) from exc
    overrides = {k: cfg[k] for k in _PREPROCESS_KEYS if k in cfg}
    return WeightsSource(
        spec, spec.arch, path, spec.canonical, spec.arch,
        quick_gelu=bool(cfg.get("quick_gelu", False)), preprocess_overrides=overrides,
    )


def _expected_tag_location(cfg: dict, cache_dir: str | None) -> str:
    """Where open_clip looks for a tag's file: an HF-cache repo folder, or ``~/.cache/clip/<name>``."""
    if cfg.get("hf_hub") and oc_pretrained.has_hf_hub():
        org, repo, *filename = cfg["hf_hub"].split("/")
        name = "/".join(filename) or "open_clip_pytorch_model.bin (or open_clip_model.safetensors)"
        return str(_hf_repo_folder(f"{org}/{repo}", cache_dir) / "snapshots" / "<revision>" / name)
    url = cfg.get("url", "")
    return os.path.join(cache_dir or os.path.expanduser("~/.cache/clip"), os.path.basename(url))


def _hf_repo_folder(repo_id: str, cache_dir: str | None) -> Path:
    from huggingface_hub import constants

    root = Path(cache_dir or constants.HF_HUB_CACHE)
    return root / ("models--" + repo_id.replace("/", "--"))


def _locate_hf_repo(spec: ModelSpec, cache_dir: str | None) -> WeightsSource:
    repo = spec.location
    hint = (f"download it once with internet access (huggingface-cli download {repo}) into "
            "HF_HUB_CACHE, or set ATELIER_CLIP_MODEL=file:/path/to/folder")
    try:
        config_path = oc_pretrained.download_pretrained_from_hf(repo, filename=CONFIG_NAME, cache_dir=cache_dir)
        weights = oc_pretrained.download_pretrained_from_hf(repo, cache_dir=cache_dir)
    except Exception as exc:
        raise ModelWeightsError(
            spec.canonical, f"config or weights not found in the Hugging Face cache ({_first_line(exc)})",
            path=_hf_repo_folder(repo, cache_dir), hint=hint,
        ) from exc
    folder = Path(config_path).parent
    return WeightsSource(spec, f"local-dir:{folder}", Path(weights), spec.canonical, spec.canonical)


def _locate_file(spec: ModelSpec) -> WeightsSource:
    path = Path(spec.location)
    hint = "check the path in ATELIER_CLIP_MODEL (file:/path/to/checkpoint.pt?arch=ViT-B-32)"
    if not path.exists():
        raise ModelWeightsError(spec.canonical, "no such file or folder", path=path, hint=hint)
    folder = path if path.is_dir() else path.parent
    weights = find_weights_in_dir(path) if path.is_dir() else path
    if weights is None:
        raise ModelWeightsError(spec.canonical, "the folder holds no weights file "
                                f"({', '.join(WEIGHT_SUFFIXES)})", path=path, hint=hint)
    arch = _arch_for(spec, folder, path)
    model_id = f"file:{fingerprint(weights)}"
    return WeightsSource(spec, arch, weights, model_id, arch)


def _arch_for(spec: ModelSpec, folder: Path, path: Path) -> str:
    """``?arch=`` wins; else the ``open_clip_config.json`` saved next to the weights."""
    if spec.arch:
        return spec.arch
    if (folder / CONFIG_NAME).is_file():
        return f"local-dir:{folder}"
    raise ModelWeightsError(
        spec.canonical, f"cannot tell the architecture: no ?arch= and no {CONFIG_NAME} beside the weights",
        path=folder / CONFIG_NAME, hint=f"use file:{path}?arch=<architecture>, e.g. ?arch=ViT-B-32",
    )


def _locate_demo(spec: ModelSpec) -> WeightsSource:
    folder = demo_weights_dir()
    weights = find_weights_in_dir(folder) if folder.is_dir() else None
    if weights is None:
        raise ModelNotReadyError(
            "demo", "the demo model is not ready: its weights have not been trained yet", path=folder,
            hint=f"run `{TRAIN_DEMO_COMMAND}` to train it, or set ATELIER_CLIP_MODEL to a downloadable "
            "model such as ViT-B-32/laion2b_s34b_b79k",
        )
    arch = f"local-dir:{folder}" if (folder / CONFIG_NAME).is_file() else spec.arch
    return WeightsSource(spec, arch, weights, f"demo:{fingerprint(weights)}", arch)


def find_weights_in_dir(folder: Path) -> Path | None:
    """The weights file of a model folder: a well-known name first, else the only/first candidate."""
    folder = Path(folder)
    for name in PREFERRED_NAMES:
        if (folder / name).is_file():
            return folder / name
    candidates = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    candidates.sort(key=lambda p: p.suffix != ".safetensors")
    return candidates[0] if candidates else None


_fingerprints: dict[tuple, str] = {}
_fingerprint_lock = threading.Lock()


def fingerprint(path: Path) -> str:
    """First hex digits of the file's sha256: the identity of a weights file in ``model_id``.

    Memoised on (path, size, mtime) because hashing a 600 MB checkpoint takes about a second.
    """
    stat = Path(path).stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _fingerprint_lock:
        if key in _fingerprints:
            return _fingerprints[key]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    value = digest.hexdigest()[:FINGERPRINT_CHARS]
    with _fingerprint_lock:
        _fingerprints[key] = value
    return value


def load_weights_into(model: torch.nn.Module, source: WeightsSource) -> None:
    """Load ``source.path`` strictly into ``model``; any mismatch or damage is a ``ModelWeightsError``."""
    try:
        open_clip.load_checkpoint(model, str(source.path), strict=True, weights_only=True)
    except Exception as exc:  # torch/safetensors raise many types for damaged or foreign files
        raise ModelWeightsError(
            source.spec.canonical,
            f"the weights file is damaged or does not fit architecture {source.arch!r} ({_first_line(exc)})",
            path=source.path,
            hint="check that ?arch= names the architecture the checkpoint was trained with, "
            "or download the file again",
        ) from exc


def save_pretrained(model: torch.nn.Module, folder: str | os.PathLike, *, model_cfg: dict,
                    preprocess_cfg: dict | None = None, safetensors: bool = True) -> Path:
    """Write ``model`` as a folder the registry loads (``file:<folder>``, ``demo``, an HF repo).

    Layout is open_clip's hub layout: ``open_clip_config.json`` (``model_cfg`` and
    ``preprocess_cfg``) beside ``open_clip_model.safetensors`` (or ``open_clip_pytorch_model.bin``),
    so the architecture always travels with the weights. Returns the weights path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    preprocess = preprocess_cfg or getattr(model.visual, "preprocess_cfg", {})
    config = {"model_cfg": model_cfg, "preprocess_cfg": _jsonable(preprocess)}
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2))
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if safetensors:
        from safetensors.torch import save_file

        target = folder / SAFETENSORS_NAME
        save_file(state, str(target))
    else:
        target = folder / "open_clip_pytorch_model.bin"
        torch.save(state, target)
    return target


def _jsonable(cfg: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}


def _first_line(exc: BaseException) -> str:
    """Exception type and message on one line, cut short (state-dict errors list every key)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:400]}" if text else type(exc).__name__
