"""Model specs: the one string that names a CLIP model, and what it resolves to.

The platform picks its CLIP model with one environment variable, ``ATELIER_CLIP_MODEL``, whose
value is a *spec*. Parsing it here, without touching any weights, lets a settings check or a
status page reject a typo at start-up instead of at the first photo upload.

Spec forms (``resolve_model_spec`` accepts all of them):

====================================  ============================================================
``demo`` (the default)                Atelier's bundled demo model: architecture
                                      ``ml_core/model_configs/atelier-demo-clip.json``, weights in
                                      ``ml_core/weights/demo_clip/`` (``ATELIER_CLIP_DEMO_DIR``)
``open_clip:ViT-B-32/laion2b_s34b_b79k``  any open_clip architecture + pretrained tag; open_clip
``ViT-B-32/openai``                   downloads and caches the weights on a connected machine
``hf-hub:org/repo``                   a Hugging Face repo holding ``open_clip_config.json`` + weights
``file:/path/ckpt.pt?arch=ViT-B-32``  a local checkpoint (.pt/.pth/.bin/.safetensors) and its
                                      architecture; ``?arch=`` may be left out when an
                                      ``open_clip_config.json`` sits next to the file
``file:/path/folder``                 a folder with ``open_clip_config.json`` + weights
``random:ViT-B-32``                   random weights (benchmarks and tests only)
====================================  ============================================================
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import open_clip

from ..config import DEFAULT_DEMO_DIR, current_config  # noqa: F401  (DEFAULT_DEMO_DIR: re-exported)
from .errors import ModelSpecError

ENV_MODEL = "ATELIER_CLIP_MODEL"
DEFAULT_SPEC = "demo"
DEMO_ARCH = "atelier-demo-clip"
TRAIN_DEMO_COMMAND = "python -m ml_core.train clip"

_ML_CORE = Path(__file__).resolve().parent.parent
CONFIG_DIR = _ML_CORE / "model_configs"

KINDS = ("demo", "open_clip", "hf-hub", "file", "random")

_register_lock = threading.Lock()
_registered = False


@dataclass(frozen=True)
class ModelSpec:
    """A parsed spec. It names a model but says nothing yet about whether its weights exist.

    ``kind`` is one of ``KINDS``; ``arch`` the open_clip architecture name (``None`` when the
    architecture comes from an ``open_clip_config.json`` beside the weights); ``tag`` the open_clip
    pretrained tag; ``location`` the Hugging Face repo id or the filesystem path.
    """

    kind: str
    arch: str | None = None
    tag: str | None = None
    location: str | None = None

    @property
    def canonical(self) -> str:
        """The normalised spec string: equal specs give equal strings (used as cache key)."""
        if self.kind == "open_clip":
            return f"open_clip:{self.arch}/{self.tag}"
        if self.kind == "hf-hub":
            return f"hf-hub:{self.location}"
        if self.kind == "file":
            return f"file:{self.location}" + (f"?arch={self.arch}" if self.arch else "")
        if self.kind == "random":
            return f"random:{self.arch}"
        return "demo"

    def __str__(self) -> str:
        return self.canonical


def register_atelier_configs() -> None:
    """Make ``ml_core/model_configs/*.json`` known to open_clip by their file stem (idempotent).

    open_clip keeps one global table of architecture configs; adding our folder to it lets
    ``open_clip.create_model('atelier-demo-clip')`` and ``get_tokenizer`` work like for built-ins.
    """
    global _registered
    with _register_lock:
        if not _registered:
            open_clip.add_model_config(CONFIG_DIR)
            _registered = True


def list_architectures() -> list[str]:
    """All architecture names a spec may use (open_clip's built-ins and Atelier's own)."""
    register_atelier_configs()
    return open_clip.list_models()


def demo_weights_dir() -> Path:
    """Where the demo model's weights live (the config's ``demo_weights_dir``)."""
    return Path(current_config().demo_weights_dir).expanduser()


def configured_spec() -> str:
    """The spec the platform runs with: the config's ``clip_model`` (``demo`` by default)."""
    return current_config().clip_model.strip() or DEFAULT_SPEC


def resolve_model_spec(spec: str | None = None) -> ModelSpec:
    """Parse ``spec`` (default: ``ATELIER_CLIP_MODEL``) into a ``ModelSpec``, or raise ``ModelSpecError``."""
    text = (configured_spec() if spec is None else spec).strip()
    if not text:
        raise ModelSpecError(f"empty CLIP model spec; set {ENV_MODEL} (e.g. 'demo' or 'ViT-B-32/openai')")
    if text == "demo":
        return ModelSpec("demo", arch=DEMO_ARCH)
    scheme, sep, rest = text.partition(":")
    if sep and scheme == "random":
        return ModelSpec("random", arch=_check_arch(rest, text))
    if sep and scheme == "hf-hub":
        return ModelSpec("hf-hub", location=_check_repo(rest, text))
    if sep and scheme == "file":
        return _parse_file(rest, text)
    if sep and scheme == "open_clip":
        return _parse_pretrained(rest, text)
    return _parse_pretrained(text, text)


def _check_arch(arch: str, spec: str) -> str:
    arch = arch.strip()
    known = list_architectures()
    if arch in known:
        return arch
    close = [name for name in known if name.lower() == arch.lower()]
    suggestion = f" Did you mean {close[0]!r}?" if close else ""
    raise ModelSpecError(
        f"unknown CLIP architecture {arch!r} in spec {spec!r}.{suggestion} "
        f"Known: open_clip.list_models() (e.g. ViT-B-32, ViT-L-14) and {DEMO_ARCH!r}."
    )


def _check_repo(repo: str, spec: str) -> str:
    parts = repo.strip().split("/")
    if len(parts) != 2 or not all(parts):
        raise ModelSpecError(f"spec {spec!r}: expected 'hf-hub:<org>/<repo>'")
    return "/".join(parts)


def _parse_pretrained(text: str, spec: str) -> ModelSpec:
    arch, sep, tag = text.rpartition("/")
    if not sep:
        arch, tag = text, ""
    arch = _check_arch(arch, spec)
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if not tag:
        example = f"{arch}/{tags[0]}" if tags else "ViT-B-32/laion2b_s34b_b79k"
        raise ModelSpecError(
            f"spec {spec!r} names an architecture but no pretrained weights; use e.g. {example!r} "
            f"(tags for {arch}: {', '.join(tags) or 'none'}), or 'random:{arch}' for random weights"
        )
    clean = tag.strip().lower().replace("-", "_")
    if clean not in tags:
        raise ModelSpecError(
            f"spec {spec!r}: open_clip has no pretrained tag {tag!r} for {arch} "
            f"(known: {', '.join(tags) or 'none'}); for your own weights use 'file:/path?arch={arch}'"
        )
    return ModelSpec("open_clip", arch=arch, tag=clean)


def _parse_file(rest: str, spec: str) -> ModelSpec:
    path, arch = rest, None
    if "?" in rest:
        path, _, query = rest.rpartition("?")
        params = parse_qs(query, keep_blank_values=True)
        unknown = set(params) - {"arch"}
        if unknown or not params.get("arch", [""])[0]:
            raise ModelSpecError(f"spec {spec!r}: the only option of 'file:' is '?arch=<architecture>'")
        arch = _check_arch(params["arch"][0], spec)
    if not path.strip():
        raise ModelSpecError(f"spec {spec!r}: 'file:' needs a path to a checkpoint file or folder")
    location = str(Path(path.strip()).expanduser().absolute())
    return ModelSpec("file", arch=arch, location=location)
