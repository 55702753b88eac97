"""Actions on a selection of photos: copy into another collection, delete, download as a zip.

Every photo of a selection must be visible to the user (else the whole request is refused with the
first id that is not, answered as not found: no existence leak); writes need the role they need
one photo at a time (editor of the photo's collection, editor of the target).
"""
from __future__ import annotations

import tempfile
import zipfile

from django.db import transaction

from atelier.library import permissions, storage
from atelier.library.ingest import do_delete_photo, start_processing_job
from atelier.library.models import Collection, Photo
from atelier.library.services import InvalidInput, PermissionDenied
from atelier.library.signals import photos_created

MAX_SELECTION = 1000
MAX_ZIP_BYTES = 2 * 1024**3


class NotVisible(Exception):
    """A selected photo does not exist or the user may not view it (callers answer 404)."""


def clean_ids(ids) -> list[int]:
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids):
        raise InvalidInput("ids: a non-empty list of photo ids")
    if len(ids) > MAX_SELECTION:
        raise InvalidInput(f"ids: at most {MAX_SELECTION} photos at once")
    return list(dict.fromkeys(ids))


def access_photos(*, user, ids) -> list[Photo]:
    """The photos with these ids, in the given order, when the user may view every one of them."""
    ids = clean_ids(ids)
    found = {p.pk: p for p in Photo.objects.filter(pk__in=ids, collection__in=permissions.visible_collections(user))
             .select_related("collection")}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotVisible(f"no such photo: {missing[0]}")
    return [found[i] for i in ids]


def _check_edit_all(user, photos, what: str) -> None:
    for collection in {p.collection_id: p.collection for p in photos}.values():
        if not permissions.can_edit(user, collection):
            raise PermissionDenied(f"only editors of “{collection.name}” may {what} its photos")


def check_copy_photos(*, user, photos: list[Photo], target: Collection) -> dict:
    """Adds the photos to ``target`` (the same files; thumbnails and embeddings made as for an upload)."""
    if not permissions.can_edit(user, target):
        raise PermissionDenied(f"only editors of “{target.name}” may add photos to it")
    present = set(target.photos.filter(sha256__in=[p.sha256 for p in photos]).values_list("sha256", flat=True))
    fresh, seen = [], set(present)
    for p in photos:
        if p.sha256 not in seen:
            seen.add(p.sha256)
            fresh.append(Photo(collection=target, sha256=p.sha256, filename=p.filename, title=p.title, caption=p.caption,
                               format=p.format, width=p.width, height=p.height, bytes=p.bytes, taken_at=p.taken_at,
                               uploaded_by=user))
    with transaction.atomic():
        created = Photo.objects.bulk_create(fresh)
        ids = [p.pk for p in created]
        job = start_processing_job(collection=target, user=user, photo_ids=ids) if ids else None
        transaction.on_commit(lambda: photos_created.send(sender=Photo, photo_ids=ids))
    return {"added": len(ids), "already_there": len(photos) - len(ids), "job": job}


def check_delete_photos(*, user, photos: list[Photo]) -> int:
    _check_edit_all(user, photos, "delete")
    with transaction.atomic():
        for photo in photos:
            do_delete_photo(photo=photo)
    return len(photos)


def zip_of_originals(photos: list[Photo]):
    """A temporary file holding a zip of the originals (names made unique), rewound for reading."""
    if sum(p.bytes for p in photos) > MAX_ZIP_BYTES:
        raise InvalidInput(f"ids: the selection is larger than {MAX_ZIP_BYTES // 1024**3} GiB: download it in parts")
    out = tempfile.SpooledTemporaryFile(max_size=64 * 1024**2)
    used: set[str] = set()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:  # photos are compressed already
        for photo in photos:
            path = storage.original_path(photo.sha256, photo.format)
            if path.exists():
                archive.write(path, _unique(photo.filename.rsplit("/", 1)[-1] or f"photo-{photo.pk}.{photo.format}", used))
    out.seek(0)
    return out


def _unique(name: str, used: set[str]) -> str:
    stem, dot, ext = name.rpartition(".")
    stem, ext = (stem, f".{ext}") if dot else (name, "")
    candidate, n = name, 1
    while candidate.lower() in used:
        n += 1
        candidate = f"{stem} ({n}){ext}"
    used.add(candidate.lower())
    return candidate
