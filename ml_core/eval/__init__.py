"""Evaluations of Atelier's models on the synthetic world (``python -m ml_core.eval <what>``)."""
