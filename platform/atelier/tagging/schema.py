"""OpenAPI descriptions of the tagging API (documentation only: the services check requests)."""
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers as s



def _tag_input(name_required: bool) -> dict:
    return {"name": s.CharField(max_length=100, required=name_required),
            "synonyms": s.ListField(child=s.CharField(max_length=100), required=False, max_length=20),
            "threshold": s.FloatField(required=False, allow_null=True, min_value=-1, max_value=1)}


TAG = inline_serializer("Tag", fields={
    "id": s.IntegerField(), "vocabulary": s.IntegerField(), "name": s.CharField(), "synonyms": s.ListField(child=s.CharField()),
    "threshold": s.FloatField(allow_null=True), "learned_threshold": s.FloatField(allow_null=True), "version": s.IntegerField()})

VOCABULARY = inline_serializer("Vocabulary", fields={
    "id": s.IntegerField(), "collection": s.IntegerField(allow_null=True), "name": s.CharField(), "mode": s.CharField(),
    "templates": s.JSONField(help_text="a template set name, or a list of templates with one {}"),
    "min_probability": s.FloatField(), "version": s.IntegerField(), "tags": TAG.__class__(many=True)})

VOCABULARY_LIST = inline_serializer("VocabularyList", fields={"results": VOCABULARY.__class__(many=True)})

VOCABULARY_CREATE = inline_serializer("VocabularyCreate", fields={
    "collection": s.IntegerField(required=False, allow_null=True, help_text="null: a global vocabulary (staff)"),
    "name": s.CharField(max_length=100), "mode": s.ChoiceField(choices=["multi", "single"], required=False),
    "templates": s.JSONField(required=False), "min_probability": s.FloatField(required=False, min_value=0, max_value=1),
    "tags": s.ListField(child=s.JSONField(), required=False, help_text="names, or {name, synonyms, threshold}")})

VOCABULARY_UPDATE = inline_serializer("VocabularyUpdate", fields={
    "name": s.CharField(max_length=100, required=False), "mode": s.ChoiceField(choices=["multi", "single"], required=False),
    "templates": s.JSONField(required=False), "min_probability": s.FloatField(required=False, min_value=0, max_value=1)})

TAG_CREATE = inline_serializer("TagCreate", fields=_tag_input(True))
TAG_UPDATE = inline_serializer("TagUpdate", fields=_tag_input(False))

PHOTO_TAG = inline_serializer("PhotoTag", fields={
    "id": s.IntegerField(), "photo": s.IntegerField(), "tag": s.IntegerField(), "tag_name": s.CharField(),
    "vocabulary": s.CharField(), "source": s.CharField(), "state": s.CharField(),
    "confidence": s.FloatField(allow_null=True), "margin": s.FloatField(allow_null=True),
    "decided_at": s.DateTimeField(allow_null=True)})

PHOTO_TAG_LIST = inline_serializer("PhotoTagList", fields={"results": PHOTO_TAG.__class__(many=True)})
SUGGESTIONS = inline_serializer("Suggestions", fields={"count": s.IntegerField(), "results": PHOTO_TAG.__class__(many=True)})
PAGE_PARAMS = [OpenApiParameter("limit", int, description="1..500"), OpenApiParameter("offset", int)]
SUGGESTION_PARAMS = [OpenApiParameter("tag", int), OpenApiParameter("state", str, enum=["suggested", "accepted", "rejected"]),
                     *PAGE_PARAMS]

DECISIONS = inline_serializer("Decisions", fields={
    "ids": s.ListField(child=s.IntegerField(min_value=1), min_length=1, max_length=1000),
    "state": s.ChoiceField(choices=["accepted", "rejected", "suggested"])})
UPDATED = inline_serializer("DecisionsDone", fields={"updated": s.IntegerField()})

TAGGING_JOB = inline_serializer("TaggingJobStart", fields={"force": s.BooleanField(required=False)})
TAGGING_STARTED = inline_serializer("TaggingJobStarted", fields={"job": s.IntegerField(allow_null=True)})
ADD_TAG = inline_serializer("PhotoTagAdd", fields={"tag": s.IntegerField(min_value=1)})
ERROR = inline_serializer("TaggingError", fields={"error": s.CharField()})
