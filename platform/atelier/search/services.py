"""Search: one service for the page, the API and the CLI.

    results = search_photos(user=user, text="beach -people", limit=20)
    results = search_photos(user=user, image=uploaded_file)          # search by an image
    results = search_photos(user=user, similar_to=photo_id)           # "more like this"

Steps: query vector (text arithmetic, an image, or a stored photo vector) → allow-list of the
photos the user may view, narrowed by filters → filtered vector search in the model's index →
keyword hits on titles/captions/file names added as candidates → join to live Photo rows →
relevance cutoff and minus terms on every hit → near-duplicates collapsed → sort → page.

The score shown is the one results are ranked by: the CLIP similarity to the query, plus
KEYWORD_BONUS when the title, caption or file name holds the query's words. Ranking by a score
(not by rank fusion) keeps pages consistent: a deeper page never reorders the ones before it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from django.conf import settings
from django.db.models import OuterRef, Subquery
from PIL import Image

from atelier.embeddings.models import PhotoEmbedding, unpack_vectors
from atelier.embeddings.services import model_status, worker_engine
from atelier.library import image_gate
from atelier.library.models import Photo
from atelier.library.permissions import visible_collections
from atelier.library.selectors import access_photo
from atelier.library.services import InvalidInput
from atelier.search import cutoffs, filters, query
from atelier.search.allow import allow_cache
from atelier.search.index_service import IndexUnavailable, index_service
from atelier.search.keywords import keyword_matches
from ml_core.index import AllowList

MAX_QUERY_CHARS = 1000
MAX_LIMIT = 100
MAX_WINDOW = 2000  # offset + limit
DATE_SORT_WINDOW = 500  # "sort by date" orders the best this many relevant photos
MAX_FETCH = 4 * MAX_WINDOW  # deepest candidate list a search reads when exclusions thin its pages out
KEYWORD_BONUS = 0.05  # added to the similarity of a photo whose text holds the query's words
SORTS = ("relevance", "date")


class SearchError(InvalidInput):
    """A malformed search (400)."""


class SearchTooLarge(SearchError):
    """An image over the upload's byte or pixel limit (413)."""


class SearchNotFound(Exception):
    """A photo or collection the user may not see, or that does not exist (404)."""


class SearchUnavailable(Exception):
    """No CLIP model is ready (503)."""


@dataclass
class Hit:
    photo: Photo
    score: float  # the ranking score: cosine similarity to the query (+ KEYWORD_BONUS for keyword matches)
    keyword: bool = False  # matched by words in title, caption or file name


@dataclass
class SearchResults:
    hits: list[Hit]
    took_ms: float
    no_good_match: bool = False
    duplicates: int = 0
    model_id: str = ""
    cutoff: float | None = None
    cutoff_kind: str = ""            # "setting", "calibrated", "label-free" (search/cutoffs.py)
    no_good_match_reason: str = ""   # set when the answer is "no good match"
    terms: list = field(default_factory=list)
    has_more: bool = False


def search_photos(*, user, text: str | None = None, image=None, similar_to: int | None = None,
                  collections: list[int] | None = None, date_from: datetime | None = None,
                  date_to: datetime | None = None, formats: list[str] | None = None, tags: list[str] | None = None,
                  extra_filters: dict | None = None, offset: int = 0, limit: int = 20,
                  sort: str = "relevance") -> SearchResults:
    started = time.perf_counter()
    _check_paging(offset, limit, sort)
    image = _gated_image(image) if image is not None else None  # refused alike, model ready or not
    model_id = _model_id()
    vector, terms, exclude = _query_vector(user=user, model_id=model_id, text=text, image=image, similar_to=similar_to)
    collection_ids = _collection_ids(user, collections)
    extra = {**(extra_filters or {}), "date_from": date_from, "date_to": date_to, "formats": formats, "tags": tags}
    allow, photos = _allowed(collection_ids, extra)
    unknown = _unknown_words(text)
    if unknown:
        return SearchResults(hits=[], took_ms=(time.perf_counter() - started) * 1000, no_good_match=True,
                             model_id=model_id, terms=terms, no_good_match_reason=unknown)
    cutoff = cutoffs.text_cutoff(_engine().profile, model_id, vector, allow.ids) if text is not None else None
    window = DATE_SORT_WINDOW if sort == "date" else offset + limit
    cutoff_value = None if cutoff is None else cutoff.value
    ranked, dups, exhausted = _rank(model_id, vector, allow, window, exclude=exclude, cutoff=cutoff_value,
                                    keyword_ids=_keywords(photos, terms, allow), negatives=_negatives(terms, cutoff_value))
    no_good = cutoff is not None and not ranked
    if sort == "date":
        ranked.sort(key=lambda h: (h.photo.taken_at or h.photo.created_at, h.photo.pk), reverse=True)
    page = ranked[offset:offset + limit]
    return SearchResults(hits=page, took_ms=(time.perf_counter() - started) * 1000, no_good_match=no_good,
                         duplicates=dups, model_id=model_id, terms=terms,
                         cutoff=None if cutoff is None else cutoff.value, cutoff_kind=cutoff.kind if cutoff else "",
                         no_good_match_reason=f"no photo reaches the {cutoff.kind} relevance cutoff" if no_good else "",
                         has_more=len(ranked) > offset + limit or (not exhausted and len(page) == limit))


# -- inputs -------------------------------------------------------------------------------------
def _check_paging(offset: int, limit: int, sort: str) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise SearchError(f"limit: must be between 1 and {MAX_LIMIT}")
    if offset < 0 or offset + limit > MAX_WINDOW:
        raise SearchError(f"offset: must be between 0 and {MAX_WINDOW - limit}")
    if sort not in SORTS:
        raise SearchError(f"sort: must be one of {', '.join(SORTS)}")


def _model_id() -> str:
    status = model_status()
    if not status.ready:
        raise SearchUnavailable(f"search is unavailable: the CLIP model is not ready ({status.message})")
    return status.model_id


def _engine():
    return worker_engine()  # the same engine as the in-process worker's: one model in memory


def _unknown_words(text: str | None) -> str:
    """Why a text query cannot match: it names none of the words the model knows (its profile's
    `known_words`; models without the list know every word)."""
    profile = _engine().profile if text is not None else None
    if profile is None or not profile.unknown_query(text):
        return ""
    name = profile.labels.get("name", "the CLIP model")
    return (f"{name} was trained on a closed vocabulary and the query uses none of its words "
            f"(it knows {profile.known_words_hint()})")


def _query_vector(*, user, model_id, text, image, similar_to):
    given = [x is not None for x in (text, image, similar_to)]
    if sum(given) != 1:
        raise SearchError("give exactly one of q (text), image or a photo to find similar ones")
    if text is not None:
        return (*_text_vector(text), None)
    if image is not None:
        return _image_vector(image), [], None
    photo = access_photo(user=user, photo_id=similar_to)
    if photo is None:
        raise SearchNotFound("no such photo")
    row = PhotoEmbedding.objects.filter(photo=photo, model_id=model_id, vector__isnull=False).first()
    if row is None:
        raise SearchError("this photo has no embedding yet: try again once it is processed")
    stored = row.as_array()
    return stored / max(float(np.linalg.norm(stored)), 1e-6), [], photo.pk


def _text_vector(text: str):
    text = text.strip()
    if not text:
        raise SearchError("q: empty query")
    if len(text) > MAX_QUERY_CHARS:
        raise SearchError(f"q: at most {MAX_QUERY_CHARS} characters")
    try:
        engine = _engine()
        terms = query.parse_query(text, negative_weight=engine.profile.negative_weight)
        vectors = engine.encode_texts([t.text for t in terms])
        return query.combine(terms, vectors), terms
    except query.QueryError as exc:
        raise SearchError(str(exc)) from None


def _gated_image(image) -> Image.Image:
    """Search by image passes the same gate as an upload (size, formats, pixels); decoded once."""
    try:
        image_gate.check_size(getattr(image, "size", 0) or 0)  # an upload's size, before reading it
        data = image.read(settings.ATELIER_MAX_UPLOAD_BYTES + 1) if hasattr(image, "read") else bytes(image)
        if not data:
            raise SearchError("image: empty file")
        return image_gate.decode_rgb(data)
    except image_gate.ImageTooLarge as exc:
        raise SearchTooLarge(f"image: {exc}") from None
    except image_gate.BadImage as exc:
        raise SearchError(f"image: {exc}") from None


def _image_vector(picture: Image.Image) -> np.ndarray:
    result = _engine().encode_images([picture])
    if result.errors:
        raise SearchError("image: not an image Atelier can read")
    return result.vectors[0]


def _collection_ids(user, requested) -> list[int]:
    visible = set(visible_collections(user).values_list("id", flat=True))
    if not requested:
        return sorted(visible)
    missing = set(requested) - visible
    if missing:
        raise SearchNotFound(f"no such collection: {sorted(missing)[0]}")
    return sorted(set(requested))


def _allowed(collection_ids, extra: dict):
    """(AllowList, narrowed Photo queryset) of the photos this search may return."""
    values = {k: v for k, v in extra.items() if v not in (None, "", [], ())}
    unknown = [k for k in values if k not in filters.available_filters()]
    if unknown:
        raise SearchError(f"{unknown[0]}: filtering by {unknown[0]} is not available")
    photos = filters.base_photos(collection_ids)
    if not values:
        return allow_cache.allow_list(collection_ids), photos
    photos = filters.apply_filters(photos, values)
    return AllowList(np.fromiter(photos.values_list("id", flat=True), dtype=np.int64)), photos


def _keywords(photos, terms, allow: AllowList) -> list[int]:
    phrases = query.keyword_text(terms)
    if not phrases or not len(allow):
        return []
    return keyword_matches(photos, phrases, scope_size=len(allow))


# -- ranking ------------------------------------------------------------------------------------
@dataclass
class Negatives:
    """A query's minus terms: a hit is dropped when its text holds one of the phrases, or (with a
    calibrated cutoff) when its picture matches one as well as a relevant hit matches a query."""
    phrases: list[str]
    vectors: np.ndarray | None
    cutoff: float | None

    def exclude(self, photo, vector) -> bool:
        text = f"{photo.title} {photo.caption} {photo.filename}".lower()
        if any(p in text for p in self.phrases):
            return True
        return bool(self.cutoff is not None and vector is not None and self.vectors is not None
                    and float((self.vectors @ vector).max()) >= self.cutoff)


def _negatives(terms, cutoff) -> Negatives | None:
    negative = [t.text for t in terms if t.weight < 0]
    if not negative:
        return None
    if cutoff is not None and cutoff <= 0:
        cutoff = None  # a cutoff at or below 0 (the cutoff switched off) says nothing about what a picture shows
    vectors = _engine().encode_texts(negative) if cutoff is not None else None
    return Negatives([p.lower() for p in negative], None if vectors is None else np.asarray(vectors, np.float32), cutoff)


def _rank(model_id, vector, allow, window, *, exclude, cutoff, keyword_ids, negatives=None):
    """Up to ``window`` hits, best first, after fusion, cutoff, live-row join and de-duplication.

    Over-fetches and retries with a larger k when deleted photos, duplicates or the excluded
    source photo thinned the page out. Returns (hits, duplicates, exhausted).
    """
    service = index_service(model_id)
    try:
        index = service.get()
    except IndexUnavailable as exc:
        raise SearchUnavailable(str(exc)) from None
    fetch = min(max(2 * window + 10, 32), max(len(index), 1))
    while True:
        found = index.search(vector, fetch, allow_ids=allow) if len(index) else None
        ids = found.ids if found is not None else np.zeros(0, np.int64)
        scores = found.scores if found is not None else np.zeros(0, np.float32)
        exhausted = len(ids) < fetch
        hits, dups = _assemble(model_id, vector, ids, scores, keyword_ids, exclude, cutoff, service, negatives)
        below_cutoff = cutoff is not None and len(scores) and scores[-1] < cutoff  # deeper is worse
        if len(hits) >= window or exhausted or below_cutoff or fetch >= min(len(index), MAX_FETCH):
            return hits[:window], dups, exhausted
        fetch = min(fetch * 4, len(index), MAX_FETCH)


def _assemble(model_id, vector, ids, scores, keyword_ids, exclude, cutoff, service, negatives=None):
    score_of = dict(zip(ids.tolist(), scores.tolist()))
    keyword_set = set(keyword_ids)
    keyword_only = _stored(model_id, list(keyword_set - set(score_of)))
    for pid, v in keyword_only.items():
        score_of[pid] = float(v @ vector)
    # The cutoff judges the picture, keyword match or not; the bonus only orders what passed it.
    ranking = {p: s + (KEYWORD_BONUS if p in keyword_set else 0.0) for p, s in score_of.items()
               if p != exclude and (cutoff is None or s >= cutoff)}
    order = sorted(ranking, key=lambda p: (-ranking[p], p))
    photos, vectors = _photos_with_vectors(model_id, order)
    gone = [p for p in order if p not in photos]
    if gone:
        service.forget_ids(gone)
    hits, kept, dups = [], [], 0
    for pid in order:
        if pid not in photos:
            continue
        v = vectors.get(pid)
        if negatives is not None and negatives.exclude(photos[pid], v):
            continue
        if v is not None and any(float(v @ k) > settings.ATELIER_SEARCH_DUPLICATE_COSINE for k in kept):
            dups += 1
            continue
        if v is not None:
            kept.append(v)
        hits.append(Hit(photos[pid], ranking[pid], pid in keyword_set))
    return hits, dups


def _photos_with_vectors(model_id: str, photo_ids: list[int]):
    """Live Photo rows by id and their unit vectors, in one query (for the join and duplicates)."""
    vector = PhotoEmbedding.objects.filter(photo=OuterRef("pk"), model_id=model_id).values("vector")[:1]
    photos = Photo.objects.filter(pk__in=photo_ids).annotate(stored_vector=Subquery(vector))
    by_id, vectors = {}, {}
    for photo in photos:
        by_id[photo.pk] = photo
        if photo.stored_vector is not None:
            v = unpack_vectors([photo.stored_vector])[0].astype(np.float32)
            vectors[photo.pk] = v / max(float(np.linalg.norm(v)), 1e-6)
    return by_id, vectors


def _stored(model_id: str, photo_ids: list[int]) -> dict[int, np.ndarray]:
    """Unit vectors of these photos from the database (for duplicates and keyword-hit scores)."""
    if not photo_ids:
        return {}
    rows = PhotoEmbedding.objects.filter(model_id=model_id, photo_id__in=photo_ids, vector__isnull=False)
    out = {}
    for pid, blob in rows.values_list("photo_id", "vector"):
        v = unpack_vectors([blob])[0].astype(np.float32)
        out[pid] = v / max(float(np.linalg.norm(v)), 1e-6)
    return out
