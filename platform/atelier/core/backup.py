"""Backup and restore: the database (Django's serialized dump) + the originals + a manifest.

The search index and thumbnails are caches rebuilt from these (`atelier reindex`, `atelier
thumbnails --missing`), so they are not in a backup. A backup folder:

    manifest.json        format, time, database vendor, counts, the dump's SHA-256, originals
    database.json.gz     every row (`dumpdata`, without what `migrate` recreates)
    originals/           the content-addressed originals, as under MEDIA_ROOT/originals
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from atelier.library import storage

FORMAT = 1
DUMP = "database.json.gz"
# Recreated by `migrate` (content types, permissions) or worthless in another deployment (sessions).
EXCLUDED = ["contenttypes", "auth.permission", "sessions", "admin.logentry"]
COUNTED = {"users": "auth.User", "collections": "library.Collection", "photos": "library.Photo",
           "embeddings": "embeddings.PhotoEmbedding", "tags": "tagging.Tag", "photo_tags": "tagging.PhotoTag",
           "generations": "generation.Generation", "candidates": "generation.Candidate", "jobs": "jobs.Job"}


class BackupError(Exception):
    pass


def counts() -> dict[str, int]:
    out = {}
    for name, label in COUNTED.items():
        try:
            out[name] = apps.get_model(label).objects.count()
        except LookupError:  # a plugin that is disabled here
            continue
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_tree(source: Path, target: Path, progress=None) -> tuple[int, int]:
    """Copies files missing (or of another size) in `target`; returns (files, bytes) of `source`."""
    files = total = 0
    for path in sorted(source.rglob("*")) if source.is_dir() else []:
        if not path.is_file():
            continue
        dest = target / path.relative_to(source)
        if not dest.exists() or dest.stat().st_size != path.stat().st_size:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
        files, total = files + 1, total + path.stat().st_size
        if progress:
            progress(1)
    return files, total


def do_backup(*, folder: Path, progress=None) -> dict:
    """Writes a backup into `folder` (created; must be empty) and returns its manifest."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{folder} is not empty: back up into a new folder")
    folder.mkdir(parents=True, exist_ok=True)
    call_command("dumpdata", exclude=EXCLUDED, output=str(folder / DUMP), verbosity=0)
    files, size = _copy_tree(storage.media_root() / "originals", folder / "originals", progress)
    manifest = {"format": FORMAT, "created_at": timezone.now().isoformat(), "vendor": connection.vendor,
                "database": {"file": DUMP, "sha256": _sha256(folder / DUMP)}, "counts": counts(),
                "originals": {"files": files, "bytes": size}}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def read_manifest(folder: Path) -> dict:
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise BackupError(f"{folder} has no manifest.json: not an Atelier backup")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')!r}: this Atelier reads format {FORMAT}")
    if _sha256(Path(folder) / manifest["database"]["file"]) != manifest["database"]["sha256"]:
        raise BackupError(f"{manifest['database']['file']} does not match its SHA-256 in the manifest: damaged")
    return manifest


def do_restore(*, folder: Path, progress=None) -> dict:
    """Restores a backup into an empty (migrated) database and MEDIA_ROOT; returns the counts."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    present = {k: v for k, v in counts().items() if v}
    if present:
        raise BackupError(f"restore needs an empty database; this one has {present}")
    call_command("loaddata", str(folder / manifest["database"]["file"]), verbosity=0)
    _copy_tree(folder / "originals", storage.media_root() / "originals", progress)
    restored = counts()
    expected = {k: v for k, v in manifest["counts"].items() if k in restored}
    if restored != expected:
        raise BackupError(f"restored counts {restored} differ from the manifest's {expected}")
    return restored
