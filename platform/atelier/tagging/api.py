"""Tagging API (thin: parse, check, call a service, return JSON). URLs in atelier/api/urls.py."""
from rest_framework import permissions as drf_permissions
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import APIView

from atelier.api.errors import found_or_404
from atelier.library import selectors as library_selectors
from atelier.library.services import InvalidInput
from atelier.tagging import selectors, services
from atelier.tagging.models import PhotoTag

MAX_LIST = 500


def _int(value, name: str) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f"{name}: must be an integer")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name}: must be an integer, got {str(value)[:40]!r}") from None
    if not 1 <= number <= 2**62:
        raise InvalidInput(f"{name}: out of range")
    return number


def _float(value, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name}: must be a number, got {str(value)[:40]!r}") from None
    if not -1 <= number <= 1:
        raise InvalidInput(f"{name}: must be between -1 and 1")
    return number


def _body(request) -> dict:
    if not isinstance(request.data, dict):
        raise ParseError("the body must be a JSON object")
    return dict(request.data)


def _collection(request, collection_id):
    return found_or_404(library_selectors.access_collection(user=request.user, collection_id=collection_id), "collection")


def tag_json(tag) -> dict:
    return {"id": tag.pk, "vocabulary": tag.vocabulary_id, "name": tag.name, "synonyms": tag.synonyms,
            "threshold": tag.threshold, "learned_threshold": tag.learned_threshold, "version": tag.version}


def vocabulary_json(v, tags=True) -> dict:
    out = {"id": v.pk, "collection": v.collection_id, "name": v.name, "mode": v.mode, "templates": v.templates,
           "min_probability": v.min_probability, "version": v.version}
    if tags:
        out["tags"] = [tag_json(t) for t in v.tags.all()]
    return out


def phototag_json(pt) -> dict:
    return {"id": pt.pk, "photo": pt.photo_id, "tag": pt.tag_id, "tag_name": pt.tag.name,
            "vocabulary": pt.tag.vocabulary.name, "source": pt.source, "state": pt.state,
            "confidence": None if pt.confidence is None else round(pt.confidence, 4),
            "margin": None if pt.margin is None else round(pt.margin, 4),
            "decided_at": pt.decided_at.isoformat() if pt.decided_at else None}


class Base(APIView):
    permission_classes = [drf_permissions.IsAuthenticatedOrReadOnly]


class VocabulariesView(Base):
    """GET: vocabularies (?collection=ID: that collection's and the global ones). POST: create one
    ({collection: id|null, name, mode, templates, min_probability, tags: [name | {name, synonyms, threshold}]})."""

    def get(self, request):
        collection = None
        if "collection" in request.query_params:
            collection = _collection(request, _int(request.query_params["collection"], "collection"))
        vocabularies = selectors.visible_vocabularies(request.user, collection).prefetch_related("tags")
        return Response({"results": [vocabulary_json(v) for v in vocabularies]})

    def post(self, request):
        body = _body(request)
        collection = None
        if body.get("collection") is not None:
            collection = _collection(request, _int(body.pop("collection"), "collection"))
        body.pop("collection", None)
        allowed = {"name", "mode", "templates", "min_probability", "tags"}
        if set(body) - allowed:
            raise InvalidInput(f"unknown fields: {', '.join(sorted(set(body) - allowed))}")
        if "tags" in body and not isinstance(body["tags"], list):
            raise InvalidInput("tags: a list")
        for t in body.get("tags") or []:
            if not isinstance(t, (str, dict)) or (isinstance(t, dict) and set(t) - {"name", "synonyms", "threshold"}):
                raise InvalidInput("tags: names, or objects with name, synonyms, threshold")
        vocabulary = services.do_create_vocabulary(user=request.user, collection=collection, **body)
        return Response(vocabulary_json(vocabulary), status=status.HTTP_201_CREATED)


class VocabularyView(Base):
    def _get(self, request, vocabulary_id):
        return found_or_404(selectors.access_vocabulary(user=request.user, vocabulary_id=vocabulary_id), "vocabulary")

    def get(self, request, vocabulary_id):
        return Response(vocabulary_json(self._get(request, vocabulary_id)))

    def patch(self, request, vocabulary_id):
        vocabulary = services.do_update_vocabulary(user=request.user, vocabulary=self._get(request, vocabulary_id),
                                                   **_body(request))
        return Response(vocabulary_json(vocabulary))

    def delete(self, request, vocabulary_id):
        services.do_delete_vocabulary(user=request.user, vocabulary=self._get(request, vocabulary_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class VocabularyTagsView(VocabularyView):
    """POST {name, synonyms, threshold}: add a tag to the vocabulary."""

    def post(self, request, vocabulary_id):
        body = _body(request)
        if set(body) - {"name", "synonyms", "threshold"}:
            raise InvalidInput("fields: name, synonyms, threshold")
        tag = services.do_create_tag(user=request.user, vocabulary=self._get(request, vocabulary_id), **body)
        return Response(tag_json(tag), status=status.HTTP_201_CREATED)


class TagView(Base):
    def _get(self, request, tag_id):
        return found_or_404(selectors.access_tag(user=request.user, tag_id=tag_id), "tag")

    def get(self, request, tag_id):
        return Response(tag_json(self._get(request, tag_id)))

    def patch(self, request, tag_id):
        return Response(tag_json(services.do_update_tag(user=request.user, tag=self._get(request, tag_id), **_body(request))))

    def delete(self, request, tag_id):
        services.do_delete_tag(user=request.user, tag=self._get(request, tag_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TaggingJobView(Base):
    """POST {force: bool}: start a tagging job over the collection (collection admins)."""

    def post(self, request, collection_id):
        collection = _collection(request, collection_id)
        force = _body(request).get("force", False)
        if not isinstance(force, bool):
            raise InvalidInput("force: true or false")
        try:
            job_id = services.start_tagging_job(user=request.user, collection=collection, force=force)
        except services.TaggingUnavailable as exc:
            return Response({"error": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response({"job": job_id}, status=status.HTTP_202_ACCEPTED if job_id else status.HTTP_200_OK)


class SuggestionsView(Base):
    """GET ?tag=&state=&limit=&offset=&min_confidence=: suggestions, most uncertain first (collection admins);
    with min_confidence, `bulk` says how many a bulk accept would take and the highest confidence."""

    def get(self, request, collection_id):
        collection = _collection(request, collection_id)
        services.check_admin(request.user, collection)
        q = request.query_params
        state = q.get("state", "suggested")
        if state not in PhotoTag.State.values:
            raise InvalidInput(f"state: one of {', '.join(PhotoTag.State.values)}")
        limit = _int(q.get("limit", 100), "limit")
        offset = int(q.get("offset", 0)) if str(q.get("offset", 0)).isdigit() else _int(q.get("offset"), "offset")
        if limit > MAX_LIST:
            raise InvalidInput(f"limit: at most {MAX_LIST}")
        tag_id = _int(q["tag"], "tag") if q.get("tag") else None
        rows = selectors.suggestions(collection=collection, tag_id=tag_id, state=state)
        page = list(rows[offset:offset + limit])
        body = {"count": rows.count(), "results": [phototag_json(r) for r in page]}
        if q.get("min_confidence"):  # what a bulk accept at this confidence would take, before it is clicked
            body["bulk"] = selectors.bulk_preview(rows, min_confidence=_float(q["min_confidence"], "min_confidence"))
        return Response(body)


class DecisionsView(Base):
    """POST {ids: [suggestion ids], state: accepted|rejected|suggested (undo)} (collection admins), or
    {min_confidence, tag?, state} for every suggestion at or above that confidence; answers the ids decided."""

    def post(self, request, collection_id):
        collection = _collection(request, collection_id)
        body = _body(request)
        ids = body.get("ids")
        if "min_confidence" in body:  # bulk: every suggestion (of `tag`, if given) at or above the confidence
            services.check_admin(request.user, collection)
            tag_id = _int(body["tag"], "tag") if body.get("tag") else None
            ids = selectors.bulk_ids(collection=collection, tag_id=tag_id,
                                     min_confidence=_float(body["min_confidence"], "min_confidence"))
            if not ids:
                return Response({"updated": 0, "ids": [], "suggested_left": {}})
        count = services.do_decide(user=request.user, collection=collection, phototag_ids=ids, state=body.get("state"))
        return Response({"updated": count, "ids": ids,
                         "suggested_left": selectors.suggested_left(collection=collection, phototag_ids=ids)})


class PhotoTagsView(Base):
    """GET: the photo's tags (accepted only, unless you administer its collection).
    POST {tag: id}: a person adds an accepted tag (collection admins)."""

    def _photo(self, request, photo_id):
        return found_or_404(library_selectors.access_photo(user=request.user, photo_id=photo_id), "photo")

    def get(self, request, photo_id):
        photo = self._photo(request, photo_id)
        return Response({"results": [phototag_json(r) for r in selectors.photo_tags(user=request.user, photo=photo)]})

    def post(self, request, photo_id):
        photo = self._photo(request, photo_id)
        tag = found_or_404(selectors.access_tag(user=request.user, tag_id=_int(_body(request).get("tag"), "tag")), "tag")
        return Response(phototag_json(services.do_add_photo_tag(user=request.user, photo=photo, tag=tag)),
                        status=status.HTTP_201_CREATED)
