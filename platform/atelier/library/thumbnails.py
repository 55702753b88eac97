"""Grid and large-preview thumbnails, EXIF orientation applied, written atomically."""
import time

from django.conf import settings
from PIL import Image

from atelier.library import storage
from atelier.library.imaging import open_oriented_rgb
from atelier.library.models import Photo


def make_thumbnails(photo: Photo) -> None:
    sizes = settings.ATELIER_THUMB_SIZES
    src = storage.original_path(photo.sha256, photo.format)
    img = open_oriented_rgb(src, draft_to=max(sizes.values()))
    for size_name, edge in sorted(sizes.items(), key=lambda kv: -kv[1]):
        target = storage.thumbnail_path(photo.sha256, size_name)
        if target.exists():
            continue
        thumb = img.copy()
        thumb.thumbnail((edge, edge), Image.Resampling.LANCZOS)
        storage.write_atomic(target, lambda out: thumb.save(out, "JPEG", quality=85, optimize=True))
    if settings.ATELIER_THUMBNAIL_DELAY_S:
        time.sleep(settings.ATELIER_THUMBNAIL_DELAY_S)
