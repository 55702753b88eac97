"""Groups photos whose embeddings are closer than a cosine threshold (exact range search)."""
from atelier.embeddings.services import model_status, stored_vectors
from atelier.pluginhost.discovery import plugin_setting
from ml_core.index import VectorIndex
from plugins.neardup.plugin import PLUGIN


def default_threshold() -> float:
    return float(plugin_setting(PLUGIN, "threshold"))


def duplicate_groups(collection, *, threshold: float | None = None) -> list[list[int]]:
    """Photo-id groups (largest first) whose members are within `threshold` cosine of another member."""
    threshold = default_threshold() if threshold is None else threshold
    status = model_status()
    if not status.ready:
        return []
    ids, vectors = stored_vectors(status.model_id, photo_ids=collection.photos.values_list("pk", flat=True))
    if len(ids) < 2:
        return []
    index = VectorIndex.empty(vectors.shape[1], model_id=status.model_id)  # exact: one collection at a time
    index.add(ids, vectors)
    row_of = {pid: row for row, pid in enumerate(ids.tolist())}
    neighbours = index.range_search(vectors, threshold)
    parent = list(range(len(ids)))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(ids)):
        for pid in neighbours[i].tolist():
            parent[root(i)] = root(row_of[pid])
    groups: dict[int, list[int]] = {}
    for i, photo_id in enumerate(ids.tolist()):
        groups.setdefault(root(i), []).append(photo_id)
    found = [sorted(g) for g in groups.values() if len(g) > 1]
    return sorted(found, key=lambda g: (-len(g), g[0]))
