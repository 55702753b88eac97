"""Allow-lists of the photo ids a user may see, cheap enough to build on every search.

A search over a million photos must not read a million ids from the database each time. Ids are
cached per collection as sorted int64 arrays; a cached array is checked against the collection's
newest photo id (one indexed query for all collections: new photos are appended incrementally)
and, at most every ``ATELIER_SEARCH_ALLOW_TTL_S`` seconds, against its photo count (deletions in
another process). Deletions in this process invalidate at once (``signals.py``). The prepared
``AllowList`` (with its faiss selector) for a set of collections is cached too, so repeated
searches by the same user reuse it.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict

import numpy as np
from django.conf import settings
from django.db.models import Count, Max

from atelier.library.models import Photo
from ml_core.index import AllowList


class _Entry:
    __slots__ = ("ids", "max_id", "checked")

    def __init__(self, ids: np.ndarray, max_id: int) -> None:
        self.ids, self.max_id, self.checked = ids, max_id, time.monotonic()


class AllowCache:
    def __init__(self, max_lists: int = 64) -> None:
        self._entries: dict[int, _Entry] = {}
        self._lists: OrderedDict[tuple, AllowList] = OrderedDict()
        self._lock = threading.Lock()
        self._max_lists = max_lists
        self._top = -1  # newest Photo id seen anywhere

    def ids_for(self, collection_ids) -> np.ndarray:
        """Sorted unique photo ids of these collections."""
        return self.allow_list(collection_ids).ids

    def allow_list(self, collection_ids) -> AllowList:
        key = tuple(sorted(set(int(c) for c in collection_ids)))
        with self._lock:
            changed = self._refresh(key)
            cached = self._lists.get(key)
            if cached is not None and not changed:
                self._lists.move_to_end(key)
                return cached
            parts = [self._entries[c].ids for c in key]
            allow = AllowList(np.concatenate(parts) if parts else np.zeros(0, np.int64))
            self._lists[key] = allow
            while len(self._lists) > self._max_lists:
                self._lists.popitem(last=False)
            return allow

    def invalidate(self, collection_ids=None) -> None:
        with self._lock:
            if collection_ids is None:
                self._entries.clear()
                self._lists.clear()
                self._top = -1
                return
            for c in collection_ids:
                self._entries.pop(int(c), None)
            self._lists = OrderedDict((k, v) for k, v in self._lists.items() if not set(k) & set(collection_ids))

    # -- internals -----------------------------------------------------------------------------
    def _refresh(self, key: tuple) -> bool:
        """Brings the entries of `key` up to date; True if any of them changed."""
        changed = False
        missing = [c for c in key if c not in self._entries]
        if missing:
            self._load(missing)
            changed = True
        top = Photo.objects.aggregate(m=Max("id"))["m"] or 0
        if top != self._top:
            changed |= self._append_new(top)
        ttl = settings.ATELIER_SEARCH_ALLOW_TTL_S
        stale = [c for c in key if time.monotonic() - self._entries[c].checked >= ttl]
        if stale:
            changed |= self._recount(stale)
        return changed

    def _load(self, collection_ids) -> None:
        rows = Photo.objects.filter(collection_id__in=collection_ids).values_list("collection_id", "id")
        pairs = np.array(list(rows), dtype=np.int64).reshape(-1, 2)
        for c in collection_ids:
            ids = np.sort(pairs[pairs[:, 0] == c, 1])
            self._entries[c] = _Entry(ids, int(ids[-1]) if len(ids) else 0)

    def _append_new(self, top: int) -> bool:
        """Adds photos above the previously seen newest id to the cached collections."""
        previous, self._top = self._top, top
        if previous < 0:
            return False
        changed = False
        rows = Photo.objects.filter(id__gt=previous, collection_id__in=list(self._entries)).values_list("collection_id", "id")
        for c, photo_id in rows:
            entry = self._entries[c]
            if photo_id not in entry.ids:
                entry.ids = np.union1d(entry.ids, [photo_id])  # sorted unique
                entry.max_id = max(entry.max_id, photo_id)
                changed = True
        return changed

    def _recount(self, collection_ids) -> bool:
        stats = dict(((c, (n, m)) for c, n, m in Photo.objects.filter(collection_id__in=collection_ids)
                      .values("collection_id").annotate(n=Count("id"), m=Max("id")).values_list("collection_id", "n", "m")))
        changed = False
        for c in collection_ids:
            n, m = stats.get(c, (0, 0))
            entry = self._entries[c]
            if n != len(entry.ids) or (m or 0) != entry.max_id:
                self._load([c])
                changed = True
            else:
                entry.checked = time.monotonic()
        return changed


allow_cache = AllowCache()
