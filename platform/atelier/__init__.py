"""Atelier's Django core. Lives in `platform/` (a plain folder on sys.path, never a package)."""
