"""API shapes outside clients rely on (see the issue text and docs/api.md)."""
from django.urls import reverse
from rest_framework import serializers

from atelier.jobs.models import Job
from atelier.library.models import Collection, Membership, Photo


class CollectionSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    photo_count = serializers.SerializerMethodField()

    class Meta:
        model = Collection
        fields = ["id", "name", "description", "visibility", "owner", "created_at", "photo_count"]
        read_only_fields = ["id", "owner", "created_at", "photo_count"]
        extra_kwargs = {"name": {"validators": []}}

    def get_photo_count(self, collection) -> int:
        """Annotated by the list (one query); counted for a single collection."""
        count = getattr(collection, "photo_count", None)
        return collection.photos.count() if count is None else count


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["username", "role"]


class PhotoSerializer(serializers.ModelSerializer):
    shown_at = serializers.DateTimeField(read_only=True, help_text="the date the timeline shows it under: taken, else added")
    thumbnail_url = serializers.SerializerMethodField()
    original_url = serializers.SerializerMethodField()

    class Meta:
        model = Photo
        fields = ["id", "collection", "filename", "title", "caption", "format", "width", "height", "bytes",
                  "taken_at", "created_at", "shown_at", "sha256", "thumbs_ready", "process_error", "thumbnail_url", "original_url"]
        read_only_fields = [f for f in fields if f not in ("title", "caption")]

    def get_thumbnail_url(self, photo) -> str:
        return reverse("api-photo-thumbnail", args=[photo.pk])

    def get_original_url(self, photo) -> str:
        return reverse("api-photo-original", args=[photo.pk])


class PhotoUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=300, required=False, allow_blank=True)
    caption = serializers.CharField(required=False, allow_blank=True, max_length=10000)


class PhotoPageSerializer(serializers.Serializer):
    """One page of GET /api/photos/ (documentation of the response shape)."""
    describes_a_page = True  # the schema shows it as the answer itself, not an array of it
    count = serializers.IntegerField(allow_null=True, help_text="how many photos the list holds (first page only)")
    next = serializers.URLField(allow_null=True)
    next_cursor = serializers.CharField(allow_null=True)
    results = PhotoSerializer(many=True)


class BulkActionSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=1000)
    action = serializers.ChoiceField(choices=["add_tag", "remove_tag", "copy_to", "delete"])
    tag = serializers.CharField(max_length=100, required=False)
    collection = serializers.IntegerField(min_value=1, required=False)

    def validate(self, attrs):
        if attrs["action"] in ("add_tag", "remove_tag") and not attrs.get("tag", "").strip():
            raise serializers.ValidationError({"tag": f"{attrs['action']} needs the tag's name"})
        if attrs["action"] == "copy_to" and not attrs.get("collection"):
            raise serializers.ValidationError({"collection": "copy_to needs the id of the collection to add to"})
        return attrs


class JobSerializer(serializers.ModelSerializer):
    class Meta:
        model = Job
        fields = ["id", "kind", "state", "done", "total", "message", "error", "collection", "created_at", "started_at", "finished_at"]
        read_only_fields = fields


class UploadReportSerializer(serializers.Serializer):
    created = serializers.ListField(child=serializers.DictField())
    duplicates = serializers.ListField(child=serializers.DictField())
    rejected = serializers.ListField(child=serializers.DictField())
    job = serializers.IntegerField(allow_null=True)


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, write_only=True)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
    expiry = serializers.DateTimeField()


class UserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()

