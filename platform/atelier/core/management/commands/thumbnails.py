"""`manage.py thumbnails [--missing]`: (re)make photo thumbnails, in id order, resumable."""
from django.conf import settings
from django.core.management.base import BaseCommand
from tqdm import tqdm

from atelier.library import storage
from atelier.library.models import Photo
from atelier.library.thumbnails import make_thumbnails


def thumbnails_missing(photo) -> bool:
    return any(not storage.thumbnail_path(photo.sha256, size).exists() for size in settings.ATELIER_THUMB_SIZES)


class Command(BaseCommand):
    help = "Make thumbnails: with --missing only where a file is missing (e.g. after a restore), else all again."

    def add_arguments(self, parser):
        parser.add_argument("--missing", action="store_true", help="only photos with a missing thumbnail file")

    def handle(self, *args, missing=False, **options):
        made = failed = 0
        photos = Photo.objects.order_by("pk").only("pk", "sha256", "format")
        for photo in tqdm(photos.iterator(chunk_size=2000), total=photos.count(), unit="photo",
                          disable=options["verbosity"] < 1):
            if missing and not thumbnails_missing(photo):
                continue
            if not missing:
                for size in settings.ATELIER_THUMB_SIZES:
                    storage.thumbnail_path(photo.sha256, size).unlink(missing_ok=True)
            try:
                make_thumbnails(photo)
                Photo.objects.filter(pk=photo.pk).update(thumbs_ready=True, process_error="")
                made += 1
            except Exception as exc:  # noqa: BLE001 - one bad original must not stop the rest
                Photo.objects.filter(pk=photo.pk).update(process_error=f"thumbnail failed: {exc}"[:500])
                failed += 1
        self.stdout.write(f"thumbnails made for {made} photo(s), {failed} failed")
