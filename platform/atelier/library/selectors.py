"""Reads of collections and photos, always through the user's permissions."""
from atelier.library.models import Collection, Photo
from atelier.library.permissions import can_edit, can_view, visible_collections


def photos_visible_to(user):
    return Photo.objects.filter(collection__in=visible_collections(user))


def access_photo(*, user, photo_id) -> Photo | None:
    """The photo if the user may view it, else None (callers answer 404: no existence leak)."""
    photo = Photo.objects.select_related("collection").filter(pk=photo_id).first()
    if photo is None or not can_view(user, photo.collection):
        return None
    return photo


def access_collection(*, user, collection_id) -> Collection | None:
    collection = Collection.objects.filter(pk=collection_id).first()
    if collection is None or not can_view(user, collection):
        return None
    return collection


def collections_editable_by(user) -> list[Collection]:
    """Where the user may add photos (the "Add to collection" choices), by name."""
    if not user.is_authenticated:
        return []
    return [c for c in visible_collections(user).order_by("name", "id") if can_edit(user, c)]


def timeline_photos(*, user, collection: Collection | None = None, tags: list[str] | None = None):
    """The photos a timeline lists: one collection's (already access-checked) or every visible one,
    narrowed to photos with any of ``tags`` accepted (the tagging app's `tags` filter)."""
    photos = collection.photos.all() if collection is not None else photos_visible_to(user)
    if tags:
        from atelier.search.filters import apply_filters

        photos = apply_filters(photos, {"tags": tags})
    return photos
