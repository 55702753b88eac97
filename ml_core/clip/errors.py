"""Exceptions of the CLIP engine.

Every failure a user can fix (a typo in ``ATELIER_CLIP_MODEL``, weights not downloaded, the demo
model not trained yet) gets its own class and a message that names the model, the path that was
tried and the command or setting that fixes it, so the platform can show it as-is on a status page.
"""

from __future__ import annotations

from functools import partial


class ClipError(Exception):
    """Base class of everything ``ml_core.clip`` raises on purpose."""


class ModelSpecError(ClipError, ValueError):
    """The model spec string cannot be parsed or names an unknown architecture."""


class ModelWeightsError(ClipError, FileNotFoundError):
    """The weights of a model are missing, unreadable or do not fit its architecture.

    ``spec`` is the canonical spec, ``path`` the file or folder that was tried (may be ``None`` when
    no location could be computed) and ``hint`` how to fix it; all three are also in the message.
    """

    def __init__(self, spec: str, problem: str, *, path: object = None, hint: str = "") -> None:
        self.spec = spec
        self.problem = problem
        self.path = None if path is None else str(path)
        self.hint = hint
        parts = [f"CLIP model {spec!r}: {problem}"]
        if self.path:
            parts.append(f"(tried: {self.path})")
        if hint:
            parts.append(f"To fix: {hint}")
        super().__init__(" ".join(parts))

    def __reduce__(self):
        """Survive pickling (Celery sends task errors between processes) with every field."""
        return partial(type(self), path=self.path, hint=self.hint), (self.spec, self.problem)


class ModelNotReadyError(ModelWeightsError):
    """A model that Atelier builds itself (the demo model) has not been trained yet."""


class ImageDecodeError(ClipError):
    """One image could not be read; reported per item, never raised for a whole batch."""
