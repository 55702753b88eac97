"""Reads image files out of an uploaded zip without trusting it.

Refused, each with a reason: entries whose path escapes the archive's folder (absolute paths,
`..`), symbolic links, nested archives, entries larger than the upload limit, entries whose
compression ratio is that of a zip bomb, archives with too many entries or too many bytes in total.
Sizes are counted on the bytes actually decompressed, never taken from the (forgeable) headers.
"""
import io
import stat
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO, Iterator

from django.conf import settings

ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!", b"BZh")
ARCHIVE_SUFFIXES = {".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst"}
JUNK_PREFIXES = ("__MACOSX/",)
JUNK_NAMES = {".DS_Store", "Thumbs.db"}


class ArchiveRejected(Exception):
    """The whole archive is refused."""


@dataclass
class ZipMember:
    name: str
    data: bytes | None = None  # the entry's bytes when accepted
    reason: str | None = None  # why it was refused otherwise


def is_zip(head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06")


def iter_zip_members(fileobj: BinaryIO) -> Iterator[ZipMember]:
    limits = settings.ATELIER_MAX_UPLOAD_BYTES, settings.ATELIER_MAX_ZIP_BYTES, settings.ATELIER_MAX_ZIP_RATIO
    max_entry, max_total, max_ratio = limits
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArchiveRejected(f"not a readable zip archive: {exc}") from None
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir() and not _is_junk(i.filename)]
        if len(infos) > settings.ATELIER_MAX_ZIP_ENTRIES:
            raise ArchiveRejected(f"archive has {len(infos)} entries, over the limit of {settings.ATELIER_MAX_ZIP_ENTRIES}")
        total = 0
        for info in infos:
            reason = _refusal(info, max_entry, max_ratio)
            if reason:
                yield ZipMember(info.filename, reason=reason)
                continue
            try:
                data = _read_bounded(archive, info, max_entry)
            except _Refused as refused:
                yield ZipMember(info.filename, reason=str(refused))
                continue
            total += len(data)
            if total > max_total:
                raise ArchiveRejected(f"archive expands to more than {max_total:,} bytes (zip bomb guard)")
            if data.startswith(ARCHIVE_MAGIC):
                yield ZipMember(info.filename, reason="nested archives are not accepted")
                continue
            yield ZipMember(info.filename, data=data)


class _Refused(Exception):
    pass


def _is_junk(name: str) -> bool:
    return name.startswith(JUNK_PREFIXES) or PurePosixPath(name).name in JUNK_NAMES


def _refusal(info: zipfile.ZipInfo, max_entry: int, max_ratio: int) -> str | None:
    name = info.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
        return "path escapes the archive's folder"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic links are not accepted"
    if PurePosixPath(name).suffix.lower() in ARCHIVE_SUFFIXES:
        return "nested archives are not accepted"
    if info.file_size > max_entry:
        return f"entry is {info.file_size:,} bytes, over the limit of {max_entry:,}"
    if info.compress_size and info.file_size / info.compress_size > max_ratio and info.file_size > 1024 * 1024:
        return f"compression ratio {info.file_size // info.compress_size}:1 looks like a zip bomb"
    return None


def _read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_entry: int) -> bytes:
    """Decompresses at most max_entry bytes, whatever the header claims."""
    out = io.BytesIO()
    try:
        with archive.open(info) as src:
            while chunk := src.read(1024 * 1024):
                if out.tell() + len(chunk) > max_entry:
                    raise _Refused(f"entry expands past the limit of {max_entry:,} bytes")
                out.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise _Refused(f"damaged archive entry: {exc}") from None
    return out.getvalue()
