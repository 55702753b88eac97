"""Search API: GET/POST /api/search/ and GET /api/photos/{id}/similar/ (thin: parse, call, render)."""
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions as drf_permissions
from rest_framework import status
from atelier.api.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from django.conf import settings
from django.urls import reverse
from rest_framework import serializers
from atelier.library.image_gate import stored_extensions
from atelier.search.params import search_kwargs
from atelier.search.services import (SearchError, SearchNotFound, SearchResults, SearchTooLarge, SearchUnavailable,
                                     search_photos)

FILTER_PARAMS = [
    OpenApiParameter("collection", int, many=True, description="only these collections (repeat or comma-separate)"),
    OpenApiParameter("date_from", str, description="taken on or after (YYYY-MM-DD or ISO datetime)"),
    OpenApiParameter("date_to", str, description="taken on or before"),
    OpenApiParameter("filetype", str, many=True, description=f"file format (DRF reserves `format`): {', '.join(stored_extensions())}"),
    OpenApiParameter("tag", str, many=True, description="tag names (when the tagging app provides the filter)"),
    OpenApiParameter("limit", int, description="1..100, default 20"),
    OpenApiParameter("offset", int, description="default 0"),
    OpenApiParameter("sort", str, enum=["relevance", "date"]),
]


_DATETIME = serializers.DateTimeField()
PLAIN_FIELDS = ("id", "filename", "title", "caption", "format", "width", "height", "bytes", "sha256",
                "thumbs_ready", "process_error")


def photo_json(photo, urls: dict) -> dict:
    """PhotoSerializer's shape, built directly: a results page serializes up to 100 photos and the
    generic serializer (two `reverse` calls per photo) was a third of a search's time."""
    out = {name: getattr(photo, name) for name in PLAIN_FIELDS}
    out["collection"] = photo.collection_id
    out["taken_at"] = _DATETIME.to_representation(photo.taken_at) if photo.taken_at else None
    out["created_at"] = _DATETIME.to_representation(photo.created_at)
    out["shown_at"] = _DATETIME.to_representation(photo.shown_at)
    out["thumbnail_url"] = urls["thumbnail"].format(photo.pk)
    out["original_url"] = urls["original"].format(photo.pk)
    return out


def _url_patterns() -> dict:
    return {name: reverse(f"api-photo-{name}", args=[987654321]).replace("987654321", "{}")
            for name in ("thumbnail", "original")}


def results_json(results: SearchResults, request) -> dict:
    urls = _url_patterns()
    photos = [photo_json(h.photo, urls) for h in results.hits]
    return {
        "results": [{"photo": p, "score": round(h.score, 4), "keyword_match": h.keyword}
                    for p, h in zip(photos, results.hits)],
        "took_ms": round(results.took_ms, 2),
        "no_good_match": results.no_good_match,
        "no_good_match_reason": results.no_good_match_reason,
        "duplicates": results.duplicates,
        "has_more": results.has_more,
        "model_id": results.model_id,
    }


def run_search(request, **query) -> Response:
    try:
        results = search_photos(user=request.user, **query, **search_kwargs(request.query_params))
    except SearchNotFound as exc:
        return Response({"error": str(exc)}, status=status.HTTP_404_NOT_FOUND)
    except SearchUnavailable as exc:
        return Response({"error": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    except SearchTooLarge as exc:
        return Response({"error": str(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    except SearchError as exc:
        return Response({"error": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    return Response(results_json(results, request))


class SearchView(APIView):
    """Text search (GET ?q=) or search by an uploaded image (POST multipart `image`)."""

    permission_classes = [drf_permissions.AllowAny]  # anonymous users search public collections
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(parameters=[OpenApiParameter("q", str, required=True, description=(
        "text; 'beach -people', 'red + circle', 'red:2 + circle' combine terms")), *FILTER_PARAMS],
        responses={200: dict})
    def get(self, request):
        if "q" not in request.query_params:
            return Response({"error": "q: a query is required"}, status=status.HTTP_400_BAD_REQUEST)
        return run_search(request, text=request.query_params["q"])

    @extend_schema(request={"multipart/form-data": {"type": "object", "properties": {
        "image": {"type": "string", "format": "binary"}}}}, parameters=FILTER_PARAMS, responses={200: dict})
    def post(self, request):
        oversize = _oversize_body(request)
        if oversize:  # refused before the body is read and spooled to disk
            return Response({"error": oversize}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        upload = request.FILES.get("image")
        if upload is None:
            return Response({"error": "image: upload an image file as multipart field 'image'"},
                            status=status.HTTP_400_BAD_REQUEST)
        return run_search(request, image=upload)


MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and filter fields around the image


def _oversize_body(request) -> str | None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None  # the parser answers a malformed request
    limit = settings.ATELIER_MAX_UPLOAD_BYTES
    if length > limit + MULTIPART_OVERHEAD:
        return f"image: the request is {length:,} bytes, over the size limit of {limit:,} bytes"
    return None


class SimilarView(APIView):
    """Photos like this one (its stored vector), within what the user may view."""

    permission_classes = [drf_permissions.AllowAny]

    @extend_schema(parameters=FILTER_PARAMS, responses={200: dict})
    def get(self, request, photo_id: int):
        return run_search(request, similar_to=photo_id)
