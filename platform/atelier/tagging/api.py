"""Tagging API (thin: parse, check, call a service, return JSON). URLs in atelier/api/urls.py."""
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions as drf_permissions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from atelier.api.errors import found_or_404
from atelier.api.pagination import api_page_bounds
from atelier.api.parsers import body_object
from atelier.core.validation import clean_id
from atelier.library import selectors as library_selectors
from atelier.library.services import InvalidInput
from atelier.tagging import schema, selectors, services
from atelier.tagging.models import PhotoTag

MAX_LIST = 500


def _int(value, name: str) -> int:
    return clean_id(value, name)


def _float(value, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name}: must be a number, got {str(value)[:40]!r}") from None
    if not -1 <= number <= 1:
        raise InvalidInput(f"{name}: must be between -1 and 1")
    return number


_body = body_object


def _collection(request, collection_id):
    return found_or_404(library_selectors.access_collection(user=request.user, collection_id=collection_id), "collection")


def tag_json(tag, learned: dict | None = None) -> dict:
    """`learned_threshold`: the cutoff learned in the tag's own collection (global tags: in the
    collection the caller asked about, given as `learned`), else null."""
    if learned is None:
        learned = selectors.learned_thresholds(collection=tag.vocabulary.collection_id, tags=[tag])
    return {"id": tag.pk, "vocabulary": tag.vocabulary_id, "name": tag.name, "synonyms": tag.synonyms,
            "threshold": tag.threshold, "learned_threshold": learned.get(tag.pk), "version": tag.version}


def vocabulary_json(v, tags=True, collection=None) -> dict:
    out = {"id": v.pk, "collection": v.collection_id, "name": v.name, "mode": v.mode, "templates": v.templates,
           "min_probability": v.min_probability, "version": v.version}
    if tags:
        rows = list(v.tags.all())
        learned = selectors.learned_thresholds(collection=v.collection_id or collection, tags=rows)
        out["tags"] = [tag_json(t, learned) for t in rows]
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

    @extend_schema(operation_id="vocabularies_list", parameters=[OpenApiParameter("collection", int), *schema.PAGE_PARAMS],
                   responses=schema.VOCABULARY_LIST)
    def get(self, request):
        collection = None
        if "collection" in request.query_params:
            collection = _collection(request, _int(request.query_params["collection"], "collection"))
        limit, offset = api_page_bounds(request, default=MAX_LIST, maximum=MAX_LIST)
        vocabularies = selectors.visible_vocabularies(request.user, collection).prefetch_related("tags")
        return Response({"results": [vocabulary_json(v, collection=collection) for v in vocabularies[offset:offset + limit]]})

    @extend_schema(request=schema.VOCABULARY_CREATE, responses={201: schema.VOCABULARY})
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
        vocabulary = services.do_create_vocabulary(user=request.user, collection=collection, **{"name": None, **body})
        return Response(vocabulary_json(vocabulary), status=status.HTTP_201_CREATED)


class VocabularyView(Base):
    def _get(self, request, vocabulary_id):
        return found_or_404(selectors.access_vocabulary(user=request.user, vocabulary_id=vocabulary_id), "vocabulary")

    @extend_schema(responses=schema.VOCABULARY)
    def get(self, request, vocabulary_id):
        return Response(vocabulary_json(self._get(request, vocabulary_id)))

    @extend_schema(request=schema.VOCABULARY_UPDATE, responses=schema.VOCABULARY)
    def patch(self, request, vocabulary_id):
        vocabulary = services.do_update_vocabulary(user=request.user, vocabulary=self._get(request, vocabulary_id),
                                                   **_body(request))
        return Response(vocabulary_json(vocabulary))

    @extend_schema(responses={204: None})
    def delete(self, request, vocabulary_id):
        services.do_delete_vocabulary(user=request.user, vocabulary=self._get(request, vocabulary_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class VocabularyTagsView(VocabularyView):
    """POST {name, synonyms, threshold}: add a tag to the vocabulary."""

    @extend_schema(request=schema.TAG_CREATE, responses={201: schema.TAG})
    def post(self, request, vocabulary_id):
        body = _body(request)
        if set(body) - {"name", "synonyms", "threshold"}:
            raise InvalidInput("fields: name, synonyms, threshold")
        tag = services.do_create_tag(user=request.user, vocabulary=self._get(request, vocabulary_id), **{"name": None, **body})
        return Response(tag_json(tag), status=status.HTTP_201_CREATED)


class TagView(Base):
    def _get(self, request, tag_id):
        return found_or_404(selectors.access_tag(user=request.user, tag_id=tag_id), "tag")

    @extend_schema(responses=schema.TAG)
    def get(self, request, tag_id):
        return Response(tag_json(self._get(request, tag_id)))

    @extend_schema(request=schema.TAG_UPDATE, responses=schema.TAG)
    def patch(self, request, tag_id):
        return Response(tag_json(services.do_update_tag(user=request.user, tag=self._get(request, tag_id), **_body(request))))

    @extend_schema(responses={204: None})
    def delete(self, request, tag_id):
        services.do_delete_tag(user=request.user, tag=self._get(request, tag_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TaggingJobView(Base):
    """POST {force: bool}: start a tagging job over the collection (collection admins)."""

    @extend_schema(request=schema.TAGGING_JOB, responses={200: schema.TAGGING_STARTED, 202: schema.TAGGING_STARTED,
                                                          503: schema.ERROR})
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

    @extend_schema(parameters=schema.SUGGESTION_PARAMS, responses=schema.SUGGESTIONS)
    def get(self, request, collection_id):
        collection = _collection(request, collection_id)
        services.check_admin(request.user, collection)
        q = request.query_params
        state = q.get("state", "suggested")
        if state not in PhotoTag.State.values:
            raise InvalidInput(f"state: one of {', '.join(PhotoTag.State.values)}")
        limit, offset = api_page_bounds(request, default=100, maximum=MAX_LIST)
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

    @extend_schema(request=schema.DECISIONS, responses=schema.UPDATED)
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

    @extend_schema(responses=schema.PHOTO_TAG_LIST)
    def get(self, request, photo_id):
        photo = self._photo(request, photo_id)
        return Response({"results": [phototag_json(r) for r in selectors.photo_tags(user=request.user, photo=photo)]})

    @extend_schema(request=schema.ADD_TAG, responses={201: schema.PHOTO_TAG})
    def post(self, request, photo_id):
        photo = self._photo(request, photo_id)
        tag = found_or_404(selectors.access_tag(user=request.user, tag_id=_int(_body(request).get("tag"), "tag")), "tag")
        return Response(phototag_json(services.do_add_photo_tag(user=request.user, photo=photo, tag=tag)),
                        status=status.HTTP_201_CREATED)
