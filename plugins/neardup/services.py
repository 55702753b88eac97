"""Groups photos whose embeddings are within a cosine threshold of each other, as a Job.

Bounded work: the threshold is refused outside [min_threshold, 1]; each photo is linked to at most
NEIGHBOURS nearest others (exact k-NN through ml_core's VectorIndex); the scan goes through the photos in chunks, each job
step stops at its deadline and keeps its union-find in the scan's row, so a long scan is resumable
and never holds more than one chunk of neighbour lists in memory.
"""
import time

import numpy as np
from django.db import transaction

from atelier.plugin_api import (InvalidInput, Job, PermissionDenied, can_edit, create_job, enqueue, model_status,
                                plugin_setting, stored_vectors)
from ml_core.index import VectorIndex
from plugins.neardup.models import NearDupScan
from plugins.neardup.plugin import PLUGIN

JOB_KIND = "neardup"
NEIGHBOURS = 64   # links kept per photo: groups stay connected, memory stays O(chunk × NEIGHBOURS)
CHUNK = 512       # photos searched per round


def default_threshold() -> float:
    return float(plugin_setting(PLUGIN, "threshold"))


def check_threshold(value) -> float:
    """A cosine in [min_threshold, 1]; below it nearly every photo 'duplicates' every other."""
    low = float(plugin_setting(PLUGIN, "min_threshold"))
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"threshold: a number between {low} and 1, got {str(value)[:40]!r}") from None
    if not low <= threshold <= 1.0:  # also refuses NaN
        raise InvalidInput(f"threshold: must be between {low} and 1 (cosine similarity), got {threshold:g}")
    return threshold


def latest_scan(collection) -> NearDupScan | None:
    return NearDupScan.objects.filter(collection=collection).select_related("job").first()


def start_scan(*, user, collection, threshold) -> NearDupScan:
    """Starts a scan (collection editors), or returns the one already running at that threshold."""
    if not can_edit(user, collection):
        raise PermissionDenied("only the collection's editors may start a near-duplicate scan")
    threshold = check_threshold(threshold)
    status = model_status()
    if not status.ready:
        raise InvalidInput(f"the CLIP model is not ready: {status.reason}")
    running = NearDupScan.objects.filter(collection=collection, threshold=threshold, model_id=status.model_id,
                                         job__state__in=[Job.State.QUEUED, Job.State.RUNNING]).first()
    if running:
        return running
    photo_ids = sorted(collection.photos.values_list("pk", flat=True))
    with transaction.atomic():
        job = create_job(owner=user, kind=JOB_KIND, total=len(photo_ids), collection=collection,
                         message=f"near-duplicates at {threshold:g}")
        scan = NearDupScan.objects.create(collection=collection, job=job, threshold=threshold,
                                          model_id=status.model_id, photo_ids=photo_ids)
        from plugins.neardup.tasks import scan as scan_task

        enqueue(scan_task, job_id=job.pk)
    return scan


def scan_step(scan: NearDupScan, *, deadline: float) -> tuple[int, int, bool]:
    """Searches chunks of the scan's photos until `deadline`; (done, total, more)."""
    ids, vectors = _sorted(*stored_vectors(scan.model_id, photo_ids=scan.photo_ids))  # rows stable across steps
    parent = {int(k): v for k, v in scan.parent.items()}
    index = _index(ids, vectors, scan.model_id)
    row = scan.next_row
    while row < len(ids) and (row == scan.next_row or time.monotonic() < deadline):
        _link(parent, ids, index, vectors[row:row + CHUNK], scan.threshold, ids[row:row + CHUNK])
        row += CHUNK
    scan.next_row = min(row, len(ids))
    if scan.next_row >= len(ids):
        scan.groups, scan.parent = _groups(parent, ids), {}
    else:
        scan.parent = {str(k): v for k, v in parent.items()}
    scan.save(update_fields=["next_row", "groups", "parent"])
    return scan.next_row, len(ids), scan.groups is None


def duplicate_groups(collection, *, threshold: float | None = None) -> list[list[int]]:
    """The same grouping, at once (small collections, tests): photo-id groups, largest first."""
    threshold = check_threshold(default_threshold() if threshold is None else threshold)
    status = model_status()
    if not status.ready:
        return []
    ids, vectors = stored_vectors(status.model_id, photo_ids=collection.photos.values_list("pk", flat=True))
    parent: dict[int, int] = {}
    index = _index(ids, vectors, status.model_id)
    for start in range(0, len(ids), CHUNK):
        _link(parent, ids, index, vectors[start:start + CHUNK], threshold, ids[start:start + CHUNK])
    return _groups(parent, ids)


def _sorted(ids: np.ndarray, vectors: np.ndarray):
    order = np.argsort(ids)
    return ids[order], vectors[order] if len(ids) else vectors


def _index(ids: np.ndarray, vectors: np.ndarray, model_id: str) -> VectorIndex | None:
    """An exact index of the photos (None below two: nothing to pair)."""
    if len(ids) < 2:
        return None
    index = VectorIndex.empty(vectors.shape[1], model_id=model_id)
    index.add(ids, vectors)
    return index


def _link(parent: dict, ids: np.ndarray, index, queries: np.ndarray, threshold: float, query_ids: np.ndarray) -> None:
    if index is None or not len(queries):
        return
    found = index.search_batch(queries, min(NEIGHBOURS, len(ids)))  # photo ids, best first
    for qid, row_ids, row_scores in zip(query_ids.tolist(), found.ids, found.scores):
        for j, score in zip(row_ids.tolist(), row_scores.tolist()):
            if j >= 0 and score >= threshold and j != qid:
                _union(parent, qid, j)


def _root(parent: dict, i: int) -> int:
    while parent.get(i, i) != i:
        parent[i] = parent.get(parent[i], parent[i])
        i = parent[i]
    return i


def _union(parent: dict, a: int, b: int) -> None:
    ra, rb = _root(parent, a), _root(parent, b)
    if ra != rb:
        parent[max(ra, rb)] = min(ra, rb)


def _groups(parent: dict, ids: np.ndarray) -> list[list[int]]:
    groups: dict[int, list[int]] = {}
    for photo_id in ids.tolist():
        groups.setdefault(_root(parent, photo_id), []).append(photo_id)
    found = [sorted(g) for g in groups.values() if len(g) > 1]
    return sorted(found, key=lambda g: (-len(g), g[0]))
