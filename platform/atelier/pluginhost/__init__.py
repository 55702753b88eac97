"""The plugin host: hook specs, plugin discovery and the pluggy manager (see docs/plugins.md)."""
