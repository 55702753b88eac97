"""Content-addressed files under MEDIA_ROOT: originals by SHA-256, thumbnails by SHA-256 and size.

Files are written to a temporary name in the same folder and renamed, so a crash never leaves a
half-written file under a final name. Nothing here is served by URL: views check permissions and
stream files themselves.
"""
import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

CHUNK = 1024 * 1024


class TooLarge(Exception):
    pass


def media_root() -> Path:
    return Path(settings.MEDIA_ROOT)


def original_path(sha256: str, fmt: str) -> Path:
    return media_root() / "originals" / sha256[:2] / sha256[2:4] / f"{sha256}.{fmt.lower()}"


def thumbnail_path(sha256: str, size_name: str) -> Path:
    return media_root() / "thumbs" / size_name / sha256[:2] / f"{sha256}.jpg"


def spool_to_temp(stream: BinaryIO, *, max_bytes: int) -> tuple[Path, str, int]:
    """Copies a stream to a temp file, hashing as it goes. Raises TooLarge past max_bytes."""
    tmp_dir = media_root() / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(size)
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name), digest.hexdigest(), size


def move_into_place(tmp: Path, final: Path) -> bool:
    """Renames tmp to final (atomic). Returns False (and drops tmp) when final already existed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        tmp.unlink(missing_ok=True)
        return False
    os.replace(tmp, final)
    return True


def write_atomic(final: Path, write) -> None:
    """Calls write(fileobj) on a temp file beside `final`, then renames it into place."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.replace(name, final)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def remove_files_for(sha256: str, fmt: str) -> None:
    original_path(sha256, fmt).unlink(missing_ok=True)
    for size_name in settings.ATELIER_THUMB_SIZES:
        thumbnail_path(sha256, size_name).unlink(missing_ok=True)
