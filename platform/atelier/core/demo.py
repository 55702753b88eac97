"""The demo: a staff user `demo`/`demo` owning a collection of the synthetic world's scenes.

Only ever run in demo mode (`make demo`). Scenes come from `ml_core.synth` (seeded, so every
machine gets the same demo), with their captions, through the normal ingestion service.
"""
import io
import json
import logging
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from atelier.library.ingest import do_ingest_files, start_processing_pending
from atelier.library.models import Collection, Photo

log = logging.getLogger(__name__)
DEMO_USER = "demo"
DEMO_PASSWORD = "demo"
DEMO_COLLECTION = "Demo scenes"
DEMO_SEED = 7


def ensure_demo_user():
    users = get_user_model().objects
    user = users.filter(username=DEMO_USER).first()
    if user is None:
        user = users.create_user(username=DEMO_USER, password=DEMO_PASSWORD, is_staff=True, is_superuser=True)
    return user


def ensure_demo_collection(user, *, count: int) -> tuple[Collection, int | None]:
    collection, _ = Collection.objects.get_or_create(
        owner=user, name=DEMO_COLLECTION,
        defaults={"visibility": "shared", "description": "Procedural scenes with captions, from Atelier's offline world."},
    )
    if collection.photos.count() < count:
        source = export_scenes(Path(settings.VAR_DIR) / "demo-source", count=count)
        import_scenes(collection, user, source)
    return collection, start_processing_pending(collection=collection, user=user)


def export_scenes(folder: Path, *, count: int) -> Path:
    manifest = folder / "captions.jsonl"
    if not manifest.exists() or sum(1 for _ in manifest.open()) < count:
        subprocess.run([sys.executable, "-m", "ml_core.synth", "export", str(folder), "--n", str(count),
                        "--seed", str(DEMO_SEED), "--size", "256"], check=True, cwd=settings.REPO_DIR)
    return folder


def import_scenes(collection: Collection, user, folder: Path) -> None:
    from tqdm import tqdm

    lines = [json.loads(line) for line in (folder / "captions.jsonl").open()]
    for entry in tqdm(lines, desc="importing demo scenes", unit="photo"):
        path = folder / entry["file"]
        with transaction.atomic():
            report = do_ingest_files(collection=collection, user=user, files=[(path.name, io.BytesIO(path.read_bytes()))], start_job=False)
            ids = [c["id"] for c in report.created]
            if ids:
                Photo.objects.filter(pk__in=ids).update(caption=entry["caption"], title=entry["caption"][:300])
