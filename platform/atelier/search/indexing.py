"""Building and publishing index snapshots (worker side), and asking for one (web side).

    manifest = build_and_publish(model_id)       # the `build_search_index` job, manage.py reindex
    request_index_build(model_id=..., reason=...) # queue that job unless one is queued or running
    index_status(model_id)                       # what manage.py index_status and /healthz print

A build reads every stored vector of the model, lets ml_core choose, tune and *measure* the
plan (refusing one below ATELIER_INDEX_RECALL_TARGET), publishes the snapshot atomically with
its manifest, and prunes tombstones the previous snapshot already covered. A failed build leaves
``BUILD_ERROR.json`` beside the snapshots (shown by /healthz and index_status) and fails its job;
the previous snapshot keeps serving.
"""
from __future__ import annotations

import json
import logging
import time

from django.conf import settings

from atelier.embeddings.services import stored_vectors
from atelier.search.index_service import (
    index_policy, index_root, model_dim, newest_embedding_id, newest_tombstone_id,
)
from ml_core.index import IndexLoadError, build_checked
from ml_core.index import snapshot as snapshots

log = logging.getLogger(__name__)
JOB_KIND = "build_search_index"
ERROR_FILE = "BUILD_ERROR.json"


def build_and_publish(model_id: str):
    """Build, measure and publish a snapshot of ``model_id``'s stored vectors; returns its manifest."""
    import numpy as np

    root = index_root(model_id)
    started = time.perf_counter()
    # Rows committed after these marks are above them: the delta (or the tombstones) covers them.
    watermark, tomb_mark = newest_embedding_id(model_id), newest_tombstone_id(model_id)
    previous = _previous_facts(root)
    try:
        ids, vectors = stored_vectors(model_id)
        if not len(ids):
            vectors = np.zeros((0, model_dim(model_id)), np.float32)
        policy = index_policy()
        built = build_checked(ids, vectors, model_id=model_id, policy=policy)
        manifest = snapshots.publish(root, built.index, built.exact, recall=built.recall,
                                     recall_target=policy.recall_target, build_s=time.perf_counter() - started,
                                     facts={"watermark": watermark, "tombstone_mark": tomb_mark,
                                            "plans_tried": built.tried})
    except Exception as exc:
        _record_error(root, exc)
        raise
    (root / ERROR_FILE).unlink(missing_ok=True)
    _prune_tombstones(model_id, int(previous.get("tombstone_mark", 0)))
    log.info("published index snapshot %s of %s: %s, %d vectors, recall@10 %.3f", manifest.name, model_id,
             manifest.plan.describe(), manifest.count, manifest.recall_at_10)
    return manifest


def request_index_build(*, model_id: str, reason: str) -> int | None:
    """Queue a build job for ``model_id`` unless one is queued or running; returns the job id."""
    from atelier.jobs.dispatch import enqueue
    from atelier.jobs.models import Job
    from atelier.jobs.services import create_job
    from atelier.search.tasks import build_search_index

    busy = Job.objects.filter(kind=JOB_KIND, state__in=[Job.State.QUEUED, Job.State.RUNNING],
                              params__model_id=model_id).values_list("id", flat=True).first()
    if busy:
        return busy
    owner = _system_owner()
    if owner is None:
        return None
    job = create_job(owner=owner, kind=JOB_KIND, params={"model_id": model_id, "reason": reason[:300]},
                     message=f"queued: {reason}"[:500])
    enqueue(build_search_index, job_id=job.pk)
    log.info("queued search index build %s for %s: %s", job.pk, model_id, reason)
    return job.pk


def index_status(model_id: str) -> dict:
    """The published snapshot's manifest, its age, the rows and deletions since, and the last error."""
    from atelier.search.index_service import embedding_rows
    from atelier.search.models import Tombstone

    root = index_root(model_id)
    try:
        manifest = snapshots.read_manifest(root)
    except IndexLoadError as exc:
        manifest, problem = None, str(exc)
    else:
        problem = None
    facts = manifest.facts if manifest else {}
    return {
        "model_id": model_id, "store": "faiss", "root": str(root),
        "snapshot": manifest.name if manifest else None, "problem": problem,
        "plan": manifest.plan.describe() if manifest else None, "nprobe": manifest.nprobe if manifest else None,
        "rows": manifest.count if manifest else 0,
        "delta": embedding_rows(model_id).filter(id__gt=int(facts.get("watermark", 0))).count(),
        "tombstones": Tombstone.objects.filter(model_id=model_id, id__gt=int(facts.get("tombstone_mark", 0))).count(),
        "recall_at_10": manifest.recall_at_10 if manifest else None,
        "recall_target": settings.ATELIER_INDEX_RECALL_TARGET,
        "built_at": manifest.built_at if manifest else None, "age_s": round(manifest.age_s, 1) if manifest else None,
        "build_s": manifest.build_s if manifest else None,
        "last_error": last_build_error(model_id),
    }


def last_build_error(model_id: str) -> dict | None:
    try:
        return json.loads((index_root(model_id) / ERROR_FILE).read_text())
    except (OSError, ValueError):
        return None


def _record_error(root, exc: Exception) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / ERROR_FILE).write_text(json.dumps({"error": f"{type(exc).__name__}: {exc}"[:2000], "at": time.time()}))
    log.error("search index build under %s failed: %s", root, exc)


def _previous_facts(root) -> dict:
    try:
        return snapshots.read_manifest(root).facts
    except IndexLoadError:
        return {}


def _prune_tombstones(model_id: str, covered: int) -> None:
    """Tombstones the previous snapshot already excluded: no process can need them any more."""
    from atelier.search.models import Tombstone

    if covered:
        Tombstone.objects.filter(model_id=model_id, id__lte=covered).delete()


def _system_owner():
    """Jobs need an owner: the oldest staff account, else the oldest account."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.order_by("id")
    return users.filter(is_staff=True).first() or users.first()
