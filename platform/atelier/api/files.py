"""Streams originals and thumbnails after the permission check: no public media URL exists."""
from django.conf import settings
from django.http import FileResponse, Http404

from atelier.library import storage
from atelier.library.models import Photo

CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif",
                 "bmp": "image/bmp", "tif": "image/tiff", "heic": "image/heic"}


def thumbnail_response(photo: Photo, size_name: str) -> FileResponse:
    if size_name not in settings.ATELIER_THUMB_SIZES:
        raise Http404(f"unknown thumbnail size {size_name!r}")
    path = storage.thumbnail_path(photo.sha256, size_name)
    if not path.exists():
        raise Http404("thumbnail not made yet")
    response = FileResponse(open(path, "rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=86400"
    return response


def original_response(photo: Photo) -> FileResponse:
    path = storage.original_path(photo.sha256, photo.format)
    if not path.exists():
        raise Http404("original missing")
    response = FileResponse(open(path, "rb"), content_type=CONTENT_TYPES.get(photo.format, "application/octet-stream"),
                            filename=photo.filename.rsplit("/", 1)[-1])
    response["Cache-Control"] = "private, max-age=86400"
    return response
