"""OpenAPI descriptions of the generation API (documentation only: requests are checked by
services.parse_request, the one validator the API, the batch and the studio share)."""
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers as s

SETTINGS = {
    "backend": s.CharField(required=False, help_text="backend name (GET /api/generation-backends/); default: the plugin's default_backend"),
    "candidates": s.IntegerField(required=False, min_value=1, max_value=512, help_text="images sampled (default 64)"),
    "keep": s.IntegerField(required=False, min_value=1, max_value=32, help_text="best images kept by CLIP score, ≤ candidates (default 8)"),
    "seed": s.IntegerField(required=False, allow_null=True, min_value=0, help_text="omit for a random seed (recorded)"),
    "temperature": s.FloatField(required=False, min_value=0.05, max_value=5.0, help_text="default 1"),
    "top_k": s.IntegerField(required=False, allow_null=True, min_value=1, help_text="keep only the k likeliest tokens"),
    "top_p": s.FloatField(required=False, allow_null=True, min_value=0.01, max_value=1.0, help_text="nucleus sampling"),
}

GENERATE_REQUEST = inline_serializer("Generate", fields={
    "prompt": s.CharField(help_text="what to draw (at most max_prompt_chars, 200 by default)"), **SETTINGS})

BATCH_REQUEST = inline_serializer("GenerateBatch", fields={
    "prompts": s.ListField(child=s.CharField(), help_text="one request per prompt (a string with one prompt per line also works), at most 50"),
    "label": s.CharField(required=False, help_text="shown in the history for all of them"), **SETTINGS})

CANDIDATE = inline_serializer("GenerationCandidate", fields={
    "index": s.IntegerField(), "seed": s.CharField(help_text="the candidate's own seed"),
    "score": s.FloatField(help_text="CLIP cosine to the prompt"),
    "rank_score": s.FloatField(allow_null=True, help_text="what the ranking orders by: the score of the ranking the CLIP's "
                               "profile measured on this backend (the demo CLIP on Atelier's DALL·E: the margin over "
                               "the prompt's closest contradiction); null where candidates are ranked by the cosine"),
    "rank": s.IntegerField(allow_null=True, help_text="1..keep when kept"),
    "width": s.IntegerField(), "height": s.IntegerField(), "image_url": s.CharField()})

GENERATION = inline_serializer("Generation", fields={
    "id": s.IntegerField(), "job": s.DictField(help_text="the Job (state, done, total, message, error)"),
    "state": s.CharField(), "prompt": s.CharField(), "backend": s.CharField(), "candidates": s.IntegerField(),
    "keep": s.IntegerField(), "seed": s.CharField(), "temperature": s.FloatField(),
    "top_k": s.IntegerField(allow_null=True), "top_p": s.FloatField(allow_null=True),
    "settings": s.DictField(help_text="every parameter of the request, to reproduce it"),
    "model_version": s.CharField(), "clip_model": s.CharField(), "batch": s.CharField(),
    "queue_position": s.IntegerField(allow_null=True, help_text="place in your queue while waiting"),
    "ranked": s.BooleanField(), "timing": s.DictField(help_text="sample_seconds, rerank_seconds, rerank_share"),
    "sampled": s.IntegerField(), "candidates_list": CANDIDATE.__class__(many=True),
    "results": CANDIDATE.__class__(many=True, help_text="the kept candidates, best first"),
    "preview": s.CharField(allow_null=True, help_text="PNG strip of the batch being sampled"),
    "saved": s.ListField(child=s.DictField()), "created_at": s.DateTimeField(), "url": s.CharField()})

GENERATION_LIST = inline_serializer("GenerationList", fields={
    "count": s.IntegerField(), "results": s.ListField(child=s.DictField(), help_text="generations with their `top` candidate")})

BATCH_RESPONSE = inline_serializer("GenerateBatchResponse", fields={"generations": GENERATION.__class__(many=True)})

SAVE_REQUEST = inline_serializer("SaveGenerated", fields={
    "collection": s.IntegerField(help_text="a collection you may edit"),
    "candidates": s.ListField(child=s.IntegerField(), help_text="candidate indices")})

SAVE_RESPONSE = inline_serializer("SavedGenerated", fields={"saved": s.ListField(child=s.DictField(), help_text="{candidate, photo, created}")})

BACKENDS = inline_serializer("GenerationBackends", fields={"results": s.ListField(child=s.DictField(), help_text="{name, label, ready, reason, supports, default}")})

ERROR = inline_serializer("GenerationError", fields={"error": s.CharField()})

LIST_PARAMS = [OpenApiParameter("active", bool, description="only generations waiting or running"),
               OpenApiParameter("limit", int, description="at most 100 (default 20)"), OpenApiParameter("offset", int)]
