"""`python manage.py import_folder PATH --collection NAME --owner USER`

Imports every image under PATH (recursively; zip files too) through the same ingestion service as
uploads, with a progress bar. Safe to interrupt and re-run: files already in the collection are
skipped by their SHA-256, and photos left unprocessed by an interrupted run are processed.
"""
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from atelier.jobs.waiting import wait_for_job
from atelier.library.ingest import do_ingest_files, start_processing_pending
from atelier.library.models import Collection

SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".zip"}


class Command(BaseCommand):
    help = "Import a folder of photos into a collection (created if missing)."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--collection", required=True, help="collection name (created for the owner if missing)")
        parser.add_argument("--owner", required=True, help="username of the collection's owner")
        parser.add_argument("--visibility", default="private", choices=Collection.Visibility.values)
        parser.add_argument("--no-wait", action="store_true", help="don't wait for thumbnails to be made")

    def handle(self, *args, path, collection, owner, visibility, no_wait, **options):
        root = Path(path)
        if not root.is_dir():
            raise CommandError(f"{root} is not a folder")
        user = get_user_model().objects.filter(username=owner).first()
        if user is None:
            raise CommandError(f"no user named {owner!r} (create one with `manage.py createsuperuser`)")
        target, _ = Collection.objects.get_or_create(owner=user, name=collection, defaults={"visibility": visibility})
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        counts = {"created": 0, "duplicates": 0, "rejected": 0}
        try:
            for file in tqdm(files, desc=f"importing into {collection}", unit="file", disable=options.get("verbosity", 1) == 0):
                with open(file, "rb") as stream:
                    report = do_ingest_files(collection=target, user=user, files=[(str(file.relative_to(root)), stream)], start_job=False)
                for key in counts:
                    counts[key] += len(getattr(report, key))
                for rejected in report.rejected:
                    tqdm.write(f"rejected {rejected['filename']}: {rejected['reason']}")
        finally:
            job_id = start_processing_pending(collection=target, user=user)
        self.stdout.write(f"{counts['created']} imported, {counts['duplicates']} already there, {counts['rejected']} rejected")
        if job_id and not no_wait:
            job = wait_for_job(job_id, label="making thumbnails")
            self.stdout.write(f"processing job {job_id}: {job.state}")
