"""A model's profile: what Atelier knows about a CLIP model, shipped as data beside its weights.

A weights folder may hold ``atelier_profile.json`` next to ``open_clip_config.json``; the engine
loads it as ``engine.profile``. Every field is optional; a model without a profile gets
``DEFAULT_PROFILE``:

=====================  =================================================================  =======================
field                  meaning                                                            default
=====================  =================================================================  =======================
``search.cutoff``      cosine below which a text search answers "no good match"           none: the label-free
                       (``python -m ml_core.calibrate`` measures it on a captioned set)   cutoff below applies
``search.label_free_z``  the label-free cutoff: a result is shown when its cosine is at    ``LABEL_FREE_Z`` (2.0)
                       least ``z`` standard deviations above the query's mean cosine
                       over the library (``label_free_cutoff``)
``search.negative_weight``  the weight of a ``-term`` in a text query (``beach -people``):  0.5 (a default
                       a profile sets the value measured for its model                    choice, unmeasured)
``known_words``        the words the model was trained on; a query naming none of them   none: every word
                       answers "no good match" and says why                               counts as known
``ranking.method``     how the studio ranks candidates: ``cosine``, ``calibrated``        ``cosine``
                       (minus the mean cosine to ``caption_bank``) or ``margin`` (minus
                       the best cosine to the prompt's contradictions)
``ranking.views``      box-filter radii whose embeddings are averaged per candidate       ``[0]`` (the picture)
``ranking.backends``   generation backends whose images the ranking was measured on;      ``[]``
                       others get the default ranking
``ranking.caption_bank``  captions for ``calibrated`` (and ``margin`` without rivals)    ``[]``
``ranking.contradictions``  the contradiction provider: a registered name, an entry point  none
                       of group ``atelier.contradictions`` or ``module:function``
``labels``             display strings: ``name``, ``ranking`` (what the ranking score     ``{}``
                       means), ``vocabulary`` (the known words, in a sentence)
=====================  =================================================================  =======================
"""
from __future__ import annotations

import importlib
import json
import re
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Callable

PROFILE_FILE = "atelier_profile.json"
LABEL_FREE_Z = 2.0
DEFAULT_NEGATIVE_WEIGHT = 0.5
RANKING_METHODS = ("cosine", "calibrated", "margin")
PROVIDER_GROUP = "atelier.contradictions"
_WORD = re.compile(r"[a-z]+")

ContradictionProvider = Callable[[str], list]
_providers: dict[str, ContradictionProvider] = {}


class ProfileError(ValueError):
    """A profile file that cannot be used (names the file and the field)."""


@dataclass(frozen=True)
class Ranking:
    method: str = "cosine"
    views: tuple[int, ...] = (0,)
    backends: tuple[str, ...] = ()
    caption_bank: tuple[str, ...] = ()
    contradictions: str | None = None
    label: str = "CLIP cosine to the prompt"


DEFAULT_RANKING = Ranking()


@dataclass(frozen=True)
class ModelProfile:
    search_cutoff: float | None = None
    label_free_z: float = LABEL_FREE_Z
    negative_weight: float = DEFAULT_NEGATIVE_WEIGHT
    known_words: frozenset[str] | None = None
    ranking: Ranking = DEFAULT_RANKING
    labels: dict = field(default_factory=dict)
    source: str | None = None   # the file it came from; None for the default

    def ranking_for(self, backend: str | None) -> Ranking:
        """The ranking for images of `backend`: the profile's where it was measured on that backend
        (None: the caller vouches the images are like the measured ones), else the default."""
        if backend is None or backend in self.ranking.backends:
            return self.ranking
        return DEFAULT_RANKING

    def unknown_query(self, text: str) -> bool:
        """True when the profile lists the model's words and `text` uses none of them."""
        if self.known_words is None:
            return False
        return not any(word in self.known_words for word in _WORD.findall(text.lower()))

    def known_words_hint(self, limit: int = 12) -> str:
        """What the model knows, for the "no good match" message: the profile's `labels.vocabulary`,
        else the first of its words."""
        return self.labels.get("vocabulary") or ", ".join(sorted(self.known_words or ())[:limit])


DEFAULT_PROFILE = ModelProfile()


def profile_path_for(weights_path: Path | None) -> Path | None:
    """Where the profile of these weights lives: beside the weights file, or in the folder."""
    if weights_path is None:
        return None
    folder = weights_path if weights_path.is_dir() else weights_path.parent
    return folder / PROFILE_FILE


def load_profile(path: Path | None) -> ModelProfile:
    """The profile at `path`, or DEFAULT_PROFILE where there is none."""
    if path is None or not path.is_file():
        return DEFAULT_PROFILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ProfileError(f"{path}: not a readable JSON profile ({exc})") from None
    return profile_from_dict(data, source=str(path))


def profile_from_dict(data: dict, *, source: str | None = None) -> ModelProfile:
    where = source or "profile"
    search, ranking = data.get("search", {}), data.get("ranking", {})
    method = ranking.get("method", "cosine")
    if method not in RANKING_METHODS:
        raise ProfileError(f"{where}: ranking.method must be one of {', '.join(RANKING_METHODS)}, got {method!r}")
    views = tuple(int(v) for v in ranking.get("views", (0,)))
    if not views or any(v < 0 for v in views):
        raise ProfileError(f"{where}: ranking.views must be a non-empty list of box-filter radii >= 0")
    cutoff = search.get("cutoff")
    words = data.get("known_words")
    return ModelProfile(
        search_cutoff=None if cutoff is None else float(cutoff),
        label_free_z=float(search.get("label_free_z", LABEL_FREE_Z)),
        negative_weight=float(search.get("negative_weight", DEFAULT_NEGATIVE_WEIGHT)),
        known_words=None if words is None else frozenset(w.lower() for w in words),
        ranking=Ranking(method=method, views=views, backends=tuple(ranking.get("backends", ())),
                        caption_bank=tuple(ranking.get("caption_bank", ())),
                        contradictions=ranking.get("contradictions"),
                        label=data.get("labels", {}).get("ranking", DEFAULT_RANKING.label)),
        labels=dict(data.get("labels", {})), source=source)


def update_profile_file(path: Path, **sections) -> Path:
    """Merge `sections` into the profile at `path` (created if missing), keeping the rest: a dict
    merges into the section of that name, any other value replaces it."""
    data = json.loads(path.read_text()) if path.is_file() else {}
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values} if isinstance(values, dict) else values
    profile_from_dict(data, source=str(path))   # refuse to write a profile that would not load
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


# ---------------------------------------------------------------------------- contradictions
def register_contradiction_provider(name: str, provider: ContradictionProvider) -> None:
    """Make `provider(prompt) -> [captions one fact away]` known under `name` (profiles name it)."""
    _providers[name] = provider


def contradiction_provider(ref: str) -> ContradictionProvider:
    """The provider a profile names: registered, an entry point of PROVIDER_GROUP, or module:function."""
    if ref in _providers:
        return _providers[ref]
    for point in entry_points(group=PROVIDER_GROUP):
        if point.name == ref:
            _providers[ref] = point.load()
            return _providers[ref]
    module, sep, attr = ref.partition(":")
    if not sep:
        raise ProfileError(f"contradiction provider {ref!r}: not registered, no entry point of "
                           f"{PROVIDER_GROUP!r}, and not of the form 'module:function'")
    _providers[ref] = getattr(importlib.import_module(module), attr)
    return _providers[ref]


# ---------------------------------------------------------------------------- label-free cutoff
def label_free_cutoff(query, mean, covariance, z: float = LABEL_FREE_Z) -> float:
    """The cosine a result must reach for a query with no labelled cutoff: the query's mean cosine over
    the library plus `z` standard deviations of it. With library vectors x of mean m and covariance
    C, the cosines q·x have mean q·m and variance qᵀCq, so no photo needs scoring."""
    import numpy as np

    q = np.asarray(query, dtype=np.float64)
    spread = float(np.sqrt(max(q @ np.asarray(covariance, dtype=np.float64) @ q, 0.0)))
    return float(q @ np.asarray(mean, dtype=np.float64) + z * spread)


def library_moments(vectors):
    """(mean, covariance) of the library's unit vectors: what `label_free_cutoff` needs."""
    import numpy as np

    x = np.asarray(vectors, dtype=np.float64)
    mean = x.mean(axis=0)
    centred = x - mean
    return mean, centred.T @ centred / max(len(x) - 1, 1)
