"""The one configuration object of ml_core: built by the caller, never read from the environment here.

The platform builds it from Django settings (``atelier.settings.ML_CONFIG``, installed by the core
app's ``ready()``); command-line entry points build it from the environment with ``config_from_env``
(the only place ml_core reads ``ATELIER_*`` variables). Everything else asks ``current_config()``.
Other parts of ml_core add their fields here (with a default and an ``ENV`` name), so one object
holds it all.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

DEFAULT_DEMO_DIR = Path(__file__).resolve().parent / "weights" / "demo_clip"


@dataclass(frozen=True)
class MLConfig:
    clip_model: str = "demo"                       # the CLIP spec (ml_core.clip.registry)
    demo_weights_dir: Path = DEFAULT_DEMO_DIR      # where the demo CLIP's weights are
    device: str | None = None                      # torch device for models; None: CUDA when present
    torch_threads: int | None = None               # torch intra-op threads; None: every core
    extra: dict = field(default_factory=dict)      # room for settings of parts without a field yet


# field -> environment variable (README's settings table documents each).
ENV = {"clip_model": "ATELIER_CLIP_MODEL", "demo_weights_dir": "ATELIER_CLIP_DEMO_DIR",
       "device": "ATELIER_DEVICE", "torch_threads": "ATELIER_TORCH_THREADS"}

_current = MLConfig()


def config_from_env(environ=None) -> MLConfig:
    """For command-line entry points only: the config from ``ATELIER_*`` variables (unset: defaults)."""
    environ = os.environ if environ is None else environ
    types = {f.name: f.type for f in fields(MLConfig)}
    values = {}
    for name, variable in ENV.items():
        raw = (environ.get(variable) or "").strip()
        if raw:
            values[name] = _parse(types[name], raw, variable)
    return MLConfig(**values)


def _parse(kind: str, raw: str, variable: str):
    if "Path" in kind:
        return Path(raw).expanduser()
    if "int" in kind:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{variable}: expected a whole number, got {raw!r}") from None
    return raw


def configure(config: MLConfig) -> MLConfig:
    """Install `config` for this process; returns the previous one (so a test can put it back)."""
    global _current
    previous, _current = _current, config
    return previous


def current_config() -> MLConfig:
    return _current


def configure_from_env() -> MLConfig:
    """What a command-line ``main`` calls first."""
    configure(config_from_env())
    return _current


__all__ = ["ENV", "MLConfig", "config_from_env", "configure", "configure_from_env", "current_config", "replace"]
