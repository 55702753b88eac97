"""Finds plugins before Django starts: the `atelier.plugins` entry point group and `plugins/*/`.

A plugin is a Django app whose package has a `plugin.py` defining `PLUGIN = PluginInfo(...)`.
Discovery imports only that declaration (no models), so it can run while settings load. A plugin
that fails to import or needs another API version is recorded in `problems` and logged; the
platform starts without it.
"""
import importlib
import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

log = logging.getLogger("atelier.plugins")

API_VERSION = 1  # bump on a breaking change of hookspecs.py or the services plugins call
ENTRY_POINT_GROUP = "atelier.plugins"


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    api_version: int
    app: str  # the Django app (package path) to install
    description: str = ""
    settings: dict = field(default_factory=dict)  # defaults, overridable as ATELIER_PLUGIN_<NAME>_<KEY>


@dataclass
class Discovery:
    loaded: list[PluginInfo] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (plugin, what went wrong)

    @property
    def apps(self) -> list[str]:
        return [p.app for p in self.loaded]


def candidate_modules(plugins_dir: Path) -> list[tuple[str, str]]:
    """(source, module path of the declaration) for every plugin found."""
    found = [(f"entry point {ep.name}", ep.value) for ep in entry_points(group=ENTRY_POINT_GROUP)]
    if plugins_dir.is_dir():
        for folder in sorted(plugins_dir.iterdir()):
            if (folder / "plugin.py").is_file() and (folder / "__init__.py").is_file():
                found.append((f"folder plugins/{folder.name}", f"plugins.{folder.name}.plugin"))
    return found


def discover(plugins_dir: Path, *, disabled: set[str]) -> Discovery:
    result = Discovery()
    for source, module_path in candidate_modules(plugins_dir):
        try:
            info = importlib.import_module(module_path).PLUGIN
            if not isinstance(info, PluginInfo):
                raise TypeError(f"{module_path}.PLUGIN is not an atelier PluginInfo")
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the platform
            result.problems.append((source, f"failed to import: {type(exc).__name__}: {exc}"))
            log.error("plugin from %s failed to import: %s", source, exc)
            continue
        if info.name in disabled:
            result.disabled.append(info.name)
        elif info.api_version != API_VERSION:
            result.problems.append((info.name, f"needs Atelier plugin API {info.api_version}, this Atelier has {API_VERSION}"))
            log.error("plugin %s needs plugin API %s, Atelier has %s: not loaded", info.name, info.api_version, API_VERSION)
        elif any(p.name == info.name for p in result.loaded):
            result.problems.append((info.name, f"a plugin named {info.name!r} is already loaded (from {source})"))
        else:
            result.loaded.append(info)
    return result


def plugin_setting(info: PluginInfo, key: str):
    """A plugin's setting: ATELIER_PLUGIN_<NAME>_<KEY> from the environment, else its default. The
    value takes the default's type (bool from 1/true/yes); a default of None gives the raw string."""
    import os

    raw = os.environ.get(f"ATELIER_PLUGIN_{info.name.upper()}_{key.upper()}")
    default = info.settings.get(key)
    if raw is None or default is None:
        return default if raw is None else raw
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes"}
    return type(default)(raw)
