"""The one way photos enter a collection: web upload, API upload, zip upload and import_folder.

Each file is spooled and hashed, checked (`imaging.inspect_image`), de-duplicated within the
collection, moved into the content-addressed store and recorded, in that order. Any failure removes
what this file wrote, so a rejected or failed file leaves no orphan file and no orphan row; the rest
of the batch carries on. New photos are then processed by a job (thumbnails, and what plugins add).
"""
import io
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable

from django.conf import settings
from django.db import IntegrityError, transaction

from atelier.library import storage
from atelier.library.archives import ArchiveRejected, is_zip, iter_zip_members
from atelier.library.imaging import EXTENSION, BadImage, inspect_image
from atelier.library.models import Collection, Photo
from atelier.library.signals import photos_created, photos_deleted

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    created: list[dict] = field(default_factory=list)  # {"id", "filename"}
    duplicates: list[dict] = field(default_factory=list)  # {"filename", "id"}
    rejected: list[dict] = field(default_factory=list)  # {"filename", "reason"}
    job: int | None = None

    def as_dict(self) -> dict:
        return {"created": self.created, "duplicates": self.duplicates, "rejected": self.rejected, "job": self.job}


class Rejected(Exception):
    pass


def do_ingest_files(*, collection: Collection, user, files: Iterable[tuple[str, BinaryIO]], start_job: bool = True,
                    upload: str | None = None) -> IngestReport:
    """Ingests (filename, stream) pairs; zip archives are opened and their images ingested."""
    report = IngestReport()
    for filename, stream in files:
        head = stream.read(4)
        stream.seek(0)
        if is_zip(head):
            _ingest_zip(collection=collection, user=user, archive_name=filename, stream=stream, report=report)
        else:
            _ingest_into_report(collection=collection, user=user, filename=filename, stream=stream, report=report)
    if start_job and report.created:
        report.job = start_processing_job(collection=collection, user=user, photo_ids=[c["id"] for c in report.created],
                                          upload=upload)
    return report


def _ingest_zip(*, collection, user, archive_name: str, stream: BinaryIO, report: IngestReport) -> None:
    try:
        for member in iter_zip_members(stream):
            name = f"{archive_name}/{member.name}"
            if member.reason:
                report.rejected.append({"filename": name, "reason": member.reason})
            else:
                _ingest_into_report(collection=collection, user=user, filename=name, stream=io.BytesIO(member.data), report=report)
    except ArchiveRejected as exc:
        report.rejected.append({"filename": archive_name, "reason": str(exc)})


def _ingest_into_report(*, collection, user, filename: str, stream: BinaryIO, report: IngestReport) -> None:
    try:
        photo, created = ingest_one(collection=collection, user=user, filename=filename, stream=stream)
    except Rejected as exc:
        report.rejected.append({"filename": filename, "reason": str(exc)})
        return
    except Exception as exc:  # noqa: BLE001 - one bad file must not sink the batch
        log.exception("ingesting %s failed", filename)
        report.rejected.append({"filename": filename, "reason": f"could not be stored: {type(exc).__name__}"})
        return
    (report.created if created else report.duplicates).append({"id": photo.pk, "filename": filename})


def ingest_one(*, collection: Collection, user, filename: str, stream: BinaryIO) -> tuple[Photo, bool]:
    """Stores one file. Returns (photo, created); created is False for a duplicate in the collection."""
    filename = filename.replace("\\", "/")
    max_bytes = settings.ATELIER_MAX_UPLOAD_BYTES
    try:
        tmp, sha, size = storage.spool_to_temp(stream, max_bytes=max_bytes)
    except storage.TooLarge:
        raise Rejected(f"{filename}: file is over the size limit of {max_bytes:,} bytes") from None
    try:
        if size == 0:
            raise Rejected(f"{filename}: empty file")
        existing = Photo.objects.filter(collection=collection, sha256=sha).first()
        if existing:  # checked first: re-running an import skips known files without decoding them
            return existing, False
        try:
            facts = inspect_image(tmp)
        except BadImage as exc:
            raise Rejected(f"{filename}: {exc}") from None
        return _store(collection=collection, user=user, filename=filename, tmp=tmp, sha=sha, size=size, facts=facts)
    finally:
        tmp.unlink(missing_ok=True)


def _store(*, collection, user, filename, tmp: Path, sha: str, size: int, facts) -> tuple[Photo, bool]:
    fmt = EXTENSION[facts.format]
    final = storage.original_path(sha, fmt)
    wrote_file = storage.move_into_place(tmp, final)
    try:
        with transaction.atomic():
            photo = Photo.objects.create(
                collection=collection, sha256=sha, filename=filename[:500], title=Path(filename).stem[:300],
                format=fmt, width=facts.width, height=facts.height, bytes=size, taken_at=facts.taken_at,
                uploaded_by=user if user is not None and user.is_authenticated else None,
            )
    except IntegrityError:  # the same file arrived concurrently: a duplicate, not an error
        photo = Photo.objects.filter(collection=collection, sha256=sha).first()
        if photo is None:
            raise
        return photo, False
    except BaseException:
        if wrote_file and not Photo.objects.filter(sha256=sha).exists():
            storage.remove_files_for(sha, fmt)
        raise
    transaction.on_commit(lambda: photos_created.send(sender=Photo, photo_ids=[photo.pk]))
    return photo, True


def start_processing_job(*, collection: Collection, user, photo_ids: list[int], upload: str | None = None) -> int:
    """Thumbnails, then embeddings, of new photos: two jobs, shown on the jobs page as the steps of one
    entry (with the other requests of the same browser upload, which share its ``upload`` token)."""
    from atelier.jobs.dispatch import enqueue
    from atelier.jobs.services import create_job
    from atelier.library.tasks import process_photos

    from atelier.embeddings.services import start_embedding_job

    group = {"upload": upload or f"job-{uuid.uuid4().hex[:12]}"}
    job = create_job(owner=user, kind="process_photos", total=len(photo_ids), collection=collection,
                     params={"photo_ids": photo_ids, **group}, message="making thumbnails")
    enqueue(process_photos, job_id=job.pk)
    start_embedding_job(collection=collection, user=user, photo_ids=photo_ids, extra_params=group)  # on the gpu queue
    return job.pk


def start_processing_pending(*, collection: Collection, user) -> int | None:
    """Starts a job for every photo of the collection not processed yet (after an interrupted import)."""
    pending = list(Photo.objects.filter(collection=collection, thumbs_ready=False, process_error="").values_list("pk", flat=True))
    return start_processing_job(collection=collection, user=user, photo_ids=pending) if pending else None


def do_delete_photo(*, photo: Photo) -> None:
    """Deletes the row; the files go too unless another collection holds the same content."""
    sha, fmt, photo_id = photo.sha256, photo.format, photo.pk
    photo.delete()
    transaction.on_commit(lambda: photos_deleted.send(sender=Photo, photo_ids=[photo_id]))
    if not Photo.objects.filter(sha256=sha).exists():
        transaction.on_commit(lambda: storage.remove_files_for(sha, fmt))
