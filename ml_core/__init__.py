"""Atelier's pure-ML core: CLIP, FAISS index, zero-shot tagging, DALL·E-style generation.

Nothing in this package imports Django, `atelier` (platform) or `plugins`; it is usable from a
notebook or a script.
"""
