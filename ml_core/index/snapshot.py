"""Index snapshots: built once by a worker, published atomically, mapped read-only by every process.

A snapshot is a folder ``<root>/snapshots/<name>/`` holding

    index.faiss     the faiss index, read with IO_FLAG_MMAP (+ _IFC): inverted lists and flat codes
                    stay in the file, so the page cache holds them once for all processes
    ids.npy         the ids, sorted, and
    vectors.npy     their float16 vectors (re-ranking compressed codes, see :mod:`.exact`)
    manifest.json   what was built: model id, count, plan, nprobe, recall@10 measured at build,
                    build time, the caller's facts (e.g. the highest database row included) and
                    the size and sha256 of every file above

and ``<root>/CURRENT`` names the snapshot in service. Publishing writes the folder under a
temporary name, fsyncs it, renames it into ``snapshots/`` and then replaces ``CURRENT`` with
``os.replace`` (atomic on POSIX): a reader sees the old snapshot or the new one, never half of
one. Processes notice a new ``CURRENT`` on their next refresh and switch references; an old
snapshot's files are removed after the next publish, and a process still mapping them keeps
reading them (an unlinked file stays valid while mapped).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import numpy as np

from .errors import IndexCorrupt, IndexMissing, IndexStale
from .exact import ExactVectors
from .factory import IndexPlan, IndexPolicy
from .index import Hits, VectorIndex, _pad

FORMAT_VERSION = 2
INDEX_FILE = "index.faiss"
MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "CURRENT"
KEEP = 2  # snapshots kept on disk: the current one and the one before (processes may still map it)
# faiss's flags are not all bits: IO_FLAG_MMAP maps IVF inverted lists, IO_FLAG_MMAP_IFC maps the
# codes of flat indexes, and the two do not combine.
MMAP_FLAGS = {"ivf": faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY, "flat": faiss.IO_FLAG_MMAP_IFC}


@dataclass
class Manifest:
    name: str
    model_id: str
    count: int
    dim: int
    factory: str
    kind: str
    nlist: int
    nprobe: int
    refine: int
    recall_at_10: float
    recall_target: float
    build_s: float
    built_at: float
    faiss_version: str = faiss.__version__
    format_version: int = FORMAT_VERSION
    files: dict = field(default_factory=dict)  # name -> {"bytes": n, "sha256": hex}
    facts: dict = field(default_factory=dict)  # the caller's (e.g. highest embedding row included)

    @property
    def plan(self) -> IndexPlan:
        return IndexPlan(self.factory, self.kind, self.nlist, 0, self.refine)

    @property
    def age_s(self) -> float:
        return max(0.0, time.time() - self.built_at)


def publish(root, index: VectorIndex, exact: ExactVectors, *, recall: float, recall_target: float,
            build_s: float, facts: dict | None = None) -> Manifest:
    """Write a snapshot of ``index`` under ``root`` and make it current; returns its manifest."""
    root = Path(root)
    (root / "snapshots").mkdir(parents=True, exist_ok=True)
    name = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.time_ns() % 10**9:09d}-{os.getpid()}"
    building = root / f".building-{name}"
    building.mkdir()
    try:
        index.write_faiss(building / INDEX_FILE)
        names = [INDEX_FILE, *exact.save(building)]
        plan = index.plan
        manifest = Manifest(name=name, model_id=index.model_id, count=len(index), dim=index.dim,
                            factory=plan.factory, kind=plan.kind, nlist=plan.nlist, nprobe=index.nprobe,
                            refine=plan.refine, recall_at_10=round(float(recall), 4),
                            recall_target=recall_target, build_s=round(build_s, 2), built_at=time.time(),
                            files={n: _describe(building / n) for n in names}, facts=dict(facts or {}))
        _write_synced(building / MANIFEST_FILE, json.dumps(asdict(manifest), indent=1).encode())
        for n in names:
            _fsync(building / n)
        os.replace(building, root / "snapshots" / name)
        _fsync(root / "snapshots")
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    tmp = root / f".{CURRENT_FILE}.{name}"
    _write_synced(tmp, name.encode())
    os.replace(tmp, root / CURRENT_FILE)
    _fsync(root)
    _prune(root, keep={name})
    return manifest


def current_name(root) -> str | None:
    """The name of the snapshot in service, or None before the first publish."""
    try:
        return (Path(root) / CURRENT_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def read_manifest(root, name: str | None = None) -> Manifest:
    name = name or current_name(root)
    if name is None:
        raise IndexMissing(f"no snapshot published under {root}")
    path = Path(root) / "snapshots" / name / MANIFEST_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise IndexMissing(f"{path}: missing") from exc
    except ValueError as exc:
        raise IndexCorrupt(f"{path}: bad manifest: {exc}") from exc
    if data.get("format_version") != FORMAT_VERSION:
        raise IndexStale(f"{path}: format {data.get('format_version')}, this code reads {FORMAT_VERSION}")
    try:
        return Manifest(**data)
    except TypeError as exc:
        raise IndexCorrupt(f"{path}: bad manifest: {exc}") from exc


class Snapshot:
    """A published snapshot, mapped read-only. Searches re-rank compressed codes exactly."""

    def __init__(self, folder: Path, manifest: Manifest, index: VectorIndex, exact: ExactVectors) -> None:
        self.folder = folder
        self.manifest = manifest
        self.index = index
        self.exact = exact
        self.model_id = manifest.model_id

    @classmethod
    def open(cls, root, name: str | None = None, *, model_id: str | None = None, verify: bool = True,
             policy: IndexPolicy | None = None) -> "Snapshot":
        """Map the current (or named) snapshot. Raises IndexMissing / IndexCorrupt / IndexStale.

        ``verify`` checks every file's size and sha256 against the manifest first (faiss trusts
        sizes in its input); reading the files once also warms the shared page cache.
        """
        manifest = read_manifest(root, name)
        folder = Path(root) / "snapshots" / manifest.name
        if model_id is not None and manifest.model_id != model_id:
            raise IndexStale(f"{folder}: snapshot of {manifest.model_id!r}, expected {model_id!r}")
        for fname, want in manifest.files.items():
            _check_file(folder / fname, want, verify)
        try:
            raw = faiss.read_index(str(folder / INDEX_FILE), MMAP_FLAGS[manifest.kind])
            exact = ExactVectors.open(folder)
        except (RuntimeError, ValueError, OSError) as exc:
            raise IndexCorrupt(f"{folder}: unreadable: {exc}") from exc
        if raw.ntotal != manifest.count or len(exact) != manifest.count:
            raise IndexCorrupt(f"{folder}: holds {raw.ntotal} vectors, manifest says {manifest.count}")
        policy = policy or IndexPolicy()
        index = VectorIndex(raw, model_id=manifest.model_id, plan=manifest.plan, trained_count=manifest.count,
                            tuned_recall=manifest.recall_at_10, policy=_no_gpu(policy))
        if manifest.kind == "ivf":
            faiss.extract_index_ivf(raw).nprobe = manifest.nprobe
        return cls(folder, manifest, index, exact)

    def __len__(self) -> int:
        return self.manifest.count

    def ids(self) -> np.ndarray:
        return np.asarray(self.exact.ids)

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Boolean mask of ``ids`` held by this snapshot (binary search in the mapped id list)."""
        return _member(np.asarray(ids, np.int64), self.exact.ids)

    def stats(self) -> dict:
        return {**asdict(self.manifest), "age_s": round(self.manifest.age_s, 1), "folder": str(self.folder)}

    def search_batch(self, queries, k: int, *, allow_ids=None, hidden: np.ndarray | None = None) -> Hits:
        """Top-``k`` per query among allowed ids, never returning an id in sorted ``hidden``.

        Hidden ids (deleted, or re-embedded into the delta) are at most ``len(hidden)`` of the
        results, so fetching that many more and dropping them keeps ``k`` results exact.
        """
        extra = 0 if hidden is None else len(hidden)
        fetch = k + extra
        refine = self.manifest.refine
        found = self.index.search_batch(queries, fetch * max(1, refine), allow_ids=allow_ids)
        scores, ids = found.scores, found.ids
        if refine:
            queries = np.asarray(queries, np.float32).reshape(len(ids), -1)
            scores, ids = self.exact.rerank(queries, ids, fetch)
        if extra:
            keep = ~_member(ids, hidden)
            scores, ids = _compact(scores, ids, keep, k)
        return Hits(*_pad(ids[:, :k], scores[:, :k], k))


def _member(ids: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(sorted_set, ids)
    pos[pos >= len(sorted_set)] = 0
    return (sorted_set[pos] == ids) & (ids >= 0)


def _compact(scores, ids, keep, k):
    out_s = np.full((len(ids), k), -np.inf, np.float32)
    out_i = np.full((len(ids), k), -1, np.int64)
    for row in range(len(ids)):
        sel = np.flatnonzero(keep[row])[:k]
        out_s[row, : len(sel)], out_i[row, : len(sel)] = scores[row, sel], ids[row, sel]
    return out_s, out_i


def _no_gpu(policy: IndexPolicy) -> IndexPolicy:
    from dataclasses import replace

    return replace(policy, use_gpu=False)  # a mapped index is searched where it lies


def _describe(path: Path) -> dict:
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _check_file(path: Path, want: dict, verify: bool) -> None:
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise IndexCorrupt(f"{path}: missing") from exc
    if size != want["bytes"]:
        raise IndexCorrupt(f"{path}: {size} bytes, manifest says {want['bytes']}")
    if verify and _sha256(path) != want["sha256"]:
        raise IndexCorrupt(f"{path}: checksum mismatch")


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(root: Path, keep: set[str]) -> None:
    """Remove all but the newest KEEP snapshots (and any ``keep``) and abandoned temporary folders."""
    folders = sorted((p for p in (root / "snapshots").iterdir() if p.is_dir()), key=lambda p: p.name)
    for old in folders[:-KEEP]:
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
    for leftover in root.glob(".building-*"):
        if time.time() - leftover.stat().st_mtime > 24 * 3600:
            shutil.rmtree(leftover, ignore_errors=True)
