"""Atomic, self-checking index files.

One file holds everything, so a crash can never pair a new index with an old sidecar:

    b"ATELIDX\\0" | u32 header length | header JSON | faiss index bytes |
    u64 index length | sha256(header JSON + index bytes) | b"ATELEND\\0"

The header carries the format version, model id, dimension, count, factory string and the
tuned search parameters. Writes go to a temporary file in the same folder, are fsynced and then
``os.replace``d over the old file (atomic on POSIX), so readers see the old or the new index,
never half of one. Loading verifies length and checksum *before* handing bytes to faiss (which
trusts sizes in its input), then checks the header against what the caller expects.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path

import faiss

from .errors import IndexCorrupt, IndexMissing, IndexStale

FORMAT_VERSION = 1
MAGIC = b"ATELIDX\x00"
END = b"ATELEND\x00"
_TRAILER = struct.Struct("<Q32s8s")
_CHUNK = 1 << 22


def save(path, index, header: dict) -> int:
    """Write ``index`` and ``header`` atomically to ``path``; returns the file size in bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = json.dumps({"format_version": FORMAT_VERSION, **header}, sort_keys=True).encode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            digest = hashlib.sha256(head)
            f.write(MAGIC + struct.pack("<I", len(head)) + head)
            written = _write_index(index, f, digest)
            f.write(_TRAILER.pack(written, digest.digest(), END))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path.stat().st_size


def _write_index(index, f, digest) -> int:
    written = 0

    def sink(chunk: bytes) -> None:
        nonlocal written
        f.write(chunk)
        digest.update(chunk)
        written += len(chunk)

    writer = faiss.PyCallbackIOWriter(sink)
    faiss.write_index(index, writer)
    del writer  # flushes its buffer into sink
    return written


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load(path, *, model_id: str | None = None, dim: int | None = None,
         count: int | None = None):
    """Read ``(index, header)`` from ``path``, checking integrity then expectations.

    Raises IndexMissing (no file), IndexCorrupt (truncated, bad checksum, unreadable) or
    IndexStale (intact but for another model, dimension or count, or an unknown format).
    """
    path = Path(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError as exc:
        raise IndexMissing(f"no index file at {path}") from exc
    with f:
        size = os.fstat(f.fileno()).st_size
        head, start, length = _check_integrity(f, size, path)
        header = _parse_header(head, path)
        _check_expected(header, path, model_id=model_id, dim=dim, count=count)
        f.seek(start)
        index = _read_index(f, length, path)
    if index.ntotal != header["count"] or index.d != header["dim"]:
        raise IndexCorrupt(f"{path}: index holds {index.ntotal}x{index.d}, header says "
                           f"{header['count']}x{header['dim']}")
    return index, header


def _check_integrity(f, size: int, path: Path):
    if size < len(MAGIC) + 4 + _TRAILER.size:
        raise IndexCorrupt(f"{path}: truncated ({size} bytes)")
    if f.read(len(MAGIC)) != MAGIC:
        raise IndexCorrupt(f"{path}: not an Atelier index file")
    (head_len,) = struct.unpack("<I", f.read(4))
    f.seek(size - _TRAILER.size)
    length, expected, end = _TRAILER.unpack(f.read(_TRAILER.size))
    start = len(MAGIC) + 4 + head_len
    if end != END or start + length + _TRAILER.size != size:
        raise IndexCorrupt(f"{path}: truncated or malformed (lengths do not add up)")
    f.seek(len(MAGIC) + 4)
    head = f.read(head_len)
    digest = hashlib.sha256(head)
    remaining = length
    while remaining:
        chunk = f.read(min(_CHUNK, remaining))
        if not chunk:
            raise IndexCorrupt(f"{path}: truncated while reading")
        digest.update(chunk)
        remaining -= len(chunk)
    if digest.digest() != expected:
        raise IndexCorrupt(f"{path}: checksum mismatch")
    return head, start, length


def _parse_header(head: bytes, path: Path) -> dict:
    try:
        header = json.loads(head)
        int(header["dim"]), int(header["count"]), str(header["model_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise IndexCorrupt(f"{path}: bad header: {exc}") from exc
    if header.get("format_version") != FORMAT_VERSION:
        raise IndexStale(f"{path}: format version {header.get('format_version')}, "
                         f"this code reads {FORMAT_VERSION}")
    return header


def _check_expected(header: dict, path: Path, **expected) -> None:
    for key, want in expected.items():
        if want is not None and header[key] != want:
            raise IndexStale(f"{path}: {key} is {header[key]!r}, expected {want!r}")


def _read_index(f, length: int, path: Path):
    remaining = length

    def source(n: int) -> bytes:
        nonlocal remaining
        chunk = f.read(min(n, remaining))
        remaining -= len(chunk)
        return chunk

    try:
        return faiss.read_index(faiss.PyCallbackIOReader(source, _CHUNK))
    except Exception as exc:  # faiss raises RuntimeError on malformed input
        raise IndexCorrupt(f"{path}: faiss could not read the index: {exc}") from exc
