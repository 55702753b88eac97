"""The generation plugin's own hook: other plugins add generation backends through it.

The plugin publishes it with the core's `register_hookspecs` hook (hooks.py); the host adds it to
the manager with pluggy's `add_hookspecs`.
"""
from atelier.plugin_api import hookspec


@hookspec
def register_generation_backends():
    """Return a list of generation backends: objects with `name`, `label`, `supports`, `readiness()`,
    `model_version()` and `generate(prompt, *, count, seed, first, settings, on_preview)` (docs/plugins.md)."""
