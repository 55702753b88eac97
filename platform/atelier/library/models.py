"""Collections, their members, and photos (originals stored content-addressed by SHA-256)."""
from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce, Lower, NullIf


class Collection(models.Model):
    class Visibility(models.TextChoices):
        PRIVATE = "private", "Private: owner and members"
        SHARED = "shared", "Shared: every signed-in user"
        PUBLIC = "public", "Public: anyone, signed in or not"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collections")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_collection_name_per_owner")]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        VIEWER = "viewer"
        EDITOR = "editor"
        ADMIN = "admin"  # may also manage members and tags

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["collection", "user"], name="unique_member")]


class Invitation(models.Model):
    """An admin asked `username` to join with `role`; they become a member once they accept. Filed by
    name, whether or not such a user exists, so inviting never reveals which accounts exist."""
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="invitations")
    username = models.CharField(max_length=150)
    role = models.CharField(max_length=10, choices=Membership.Role.choices, default=Membership.Role.VIEWER)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["collection", "username"], name="unique_invitation")]


class Photo(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="photos")
    sha256 = models.CharField(max_length=64, db_index=True)
    filename = models.CharField(max_length=500)
    title = models.CharField(max_length=300, blank=True)
    caption = models.TextField(blank=True)
    format = models.CharField(max_length=10)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    bytes = models.PositiveBigIntegerField()
    taken_at = models.DateTimeField(null=True, blank=True, db_index=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    thumbs_ready = models.BooleanField(default=False)
    process_error = models.CharField(max_length=500, blank=True)
    # The timeline's keys, computed by the database so bulk inserts and updates keep them true:
    # the date a photo is shown under (taken, else added) and its title-sort key.
    shown_at = models.GeneratedField(expression=Coalesce("taken_at", "created_at"),
                                     output_field=models.DateTimeField(), db_persist=True)
    sort_title = models.GeneratedField(expression=Lower(Coalesce(NullIf("title", models.Value("")), "filename")),
                                       output_field=models.CharField(max_length=500), db_persist=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["collection", "sha256"], name="unique_photo_per_collection")]
        # One index per timeline sort (keyset pagination walks it), per collection and across them.
        indexes = [
            models.Index(fields=["collection", "shown_at", "id"], name="photo_coll_shown"),
            models.Index(fields=["collection", "created_at", "id"], name="photo_coll_added"),
            models.Index(fields=["collection", "sort_title", "id"], name="photo_coll_title"),
            models.Index(fields=["shown_at", "id"], name="photo_shown"),
            # id-range shards of one collection (embedding, tagging) walk it with keyset cursors
            models.Index(fields=["collection", "id"], name="photo_coll_id"),
        ]

    def __str__(self) -> str:
        return self.title or self.filename
