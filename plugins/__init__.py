"""Atelier's bundled plugins: each folder with a `plugin.py` is found by the plugin host."""
