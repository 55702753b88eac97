"""Generation API (thin: parse, check, call a service, return JSON). Paths in api_urls.py, under /api/."""
import zlib

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import APIView

from atelier.plugin_api import InvalidInput, access_collection, api_page_bounds, body_object, clean_id, found_or_404
from plugins.generation import schema, selectors, services
from plugins.generation.presentation import candidate_json

MAX_LIST = 100


class QueueFullError(APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "queue_full"


_body = body_object


def _start(user, requests, batch=""):
    try:
        return services.start_generations(user=user, requests=requests, batch=batch)
    except services.QueueFull as exc:
        raise QueueFullError(str(exc)) from None


def generation_json(generation, *, candidates: bool = True) -> dict:
    job = generation.job
    total_s = generation.sample_seconds + generation.rerank_seconds
    out = {
        "id": generation.pk, "job": job.as_event(), "state": job.state, **generation.settings_dict(),
        "seed": str(generation.seed),  # JSON numbers lose precision past 2**53
        "model_version": generation.model_version, "clip_model": generation.clip_model, "batch": generation.batch,
        "queue_position": services.queue_position(generation), "ranked": generation.ranked,
        "timing": {"sample_seconds": round(generation.sample_seconds, 3), "rerank_seconds": round(generation.rerank_seconds, 3),
                   "rerank_share": round(generation.rerank_seconds / total_s, 4) if total_s else None},
        "created_at": generation.created_at.isoformat(),
        "url": reverse("generation-api:generation", args=[generation.pk]),
    }
    out["settings"] = generation.settings_dict() | {"seed": str(generation.seed)}
    if candidates:
        rows = list(generation.candidate_set.defer("png"))
        out["sampled"] = len(rows)
        out["candidates_list"] = [candidate_json(generation, c) for c in rows]
        out["results"] = sorted([candidate_json(generation, c) for c in rows if c.rank], key=lambda c: c["rank"])
        # The version changes with every new sprite of the batch in flight, so the page loads each one.
        out["preview"] = (reverse("generation-api:preview-image", args=[generation.pk])
                          + f"?first={generation.preview_first}&v={zlib.crc32(bytes(generation.preview_png)):08x}"
                          if generation.preview_png else None)
        out["saved"] = [{"photo": p.photo_id, "candidate": p.candidate_index} for p in generation.saved.all()]
    else:
        top = generation.candidate_set.filter(rank=1).defer("png").first()
        out["top"] = candidate_json(generation, top) if top else None
    return out


class GenerateView(APIView):
    """POST {prompt, backend, candidates, keep, seed, temperature, top_k, top_p} -> 202 {id, job, url}."""

    @extend_schema(request=schema.GENERATE_REQUEST, responses={202: schema.GENERATION, 400: schema.ERROR, 429: schema.ERROR})
    def post(self, request):
        generation = _start(request.user, [services.parse_request(_body(request))])[0]
        return Response(generation_json(generation), status=status.HTTP_202_ACCEPTED)


class GenerateBatchView(APIView):
    """POST {prompts: [...] or "one\\nper line", ...shared settings} -> 202 {generations: [...]}."""

    @extend_schema(request=schema.BATCH_REQUEST, responses={202: schema.BATCH_RESPONSE, 400: schema.ERROR, 429: schema.ERROR})
    def post(self, request):
        body = _body(request)
        requests = services.parse_batch(body)
        label = str(body.get("label") or f"batch of {len(requests)}")
        generations = _start(request.user, requests, batch=label)
        return Response({"generations": [generation_json(g) for g in generations]}, status=status.HTTP_202_ACCEPTED)


class GenerationsView(APIView):
    """GET: your generations, newest first (?active=1: only those waiting or running; ?limit, ?offset)."""

    @extend_schema(operation_id="generations_list", parameters=schema.LIST_PARAMS, responses=schema.GENERATION_LIST)
    def get(self, request):
        services.dispatch_pending(request.user.pk)   # frees a place a failed job may hold
        found = selectors.generations_of(request.user).prefetch_related("saved")
        if request.query_params.get("active") in ("1", "true"):
            found = found.filter(ranked=False, job__state__in=services.ACTIVE_STATES)
        limit, offset = api_page_bounds(request, default=20, maximum=MAX_LIST)
        page = list(found[offset:offset + limit])
        return Response({"count": found.count(), "results": [generation_json(g, candidates=False) for g in page]})


class GenerationView(APIView):
    @extend_schema(responses={200: schema.GENERATION, 404: schema.ERROR})
    def get(self, request, generation_id: int):
        generation = found_or_404(selectors.access_generation(user=request.user, generation_id=generation_id), "generation")
        return Response(generation_json(generation))


class SaveView(APIView):
    """POST {collection: id, candidates: [index, ...]} -> {saved: [{candidate, photo, created}]}."""

    @extend_schema(request=schema.SAVE_REQUEST, responses={201: schema.SAVE_RESPONSE, 400: schema.ERROR, 403: schema.ERROR, 404: schema.ERROR})
    def post(self, request, generation_id: int):
        generation = found_or_404(selectors.access_generation(user=request.user, generation_id=generation_id), "generation")
        body = _body(request)
        collection_id = clean_id(body.get("collection"), "collection")
        collection = found_or_404(access_collection(user=request.user, collection_id=collection_id), "collection")
        saved = services.save_to_collection(user=request.user, generation=generation,
                                            indices=body.get("candidates"), collection=collection)
        return Response({"saved": saved}, status=status.HTTP_201_CREATED)


class BackendsView(APIView):
    @extend_schema(responses=schema.BACKENDS)
    def get(self, request):
        return Response({"results": services.backend_statuses()})


def _png(data) -> HttpResponse:
    response = HttpResponse(bytes(data), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


PNG = OpenApiResponse(OpenApiTypes.BINARY, description="image/png")


class CandidateImageView(APIView):
    @extend_schema(responses={(200, "image/png"): PNG, 404: schema.ERROR})
    def get(self, request, generation_id: int, index: int):
        candidate = found_or_404(selectors.access_candidate(user=request.user, generation_id=generation_id, index=index), "candidate")
        return _png(candidate.png)


class PreviewImageView(APIView):
    @extend_schema(responses={(200, "image/png"): PNG, 404: schema.ERROR})
    def get(self, request, generation_id: int):
        generation = found_or_404(selectors.access_generation(user=request.user, generation_id=generation_id), "generation")
        if not generation.preview_png:
            return Response({"error": "no preview: nothing is being sampled now"}, status=status.HTTP_404_NOT_FOUND)
        response = _png(generation.preview_png)
        response["Cache-Control"] = "no-store"
        return response
