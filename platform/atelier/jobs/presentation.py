"""Jobs in human words: one entry per piece of work a person started, its jobs as steps.

The jobs of one upload (thumbnails, then CLIP embeddings, for every request the browser sent for
it) share ``params["upload"]`` and become one entry, "Processing 3 photos in Holidays".
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.urls import NoReverseMatch, reverse

from atelier.jobs.models import Job

STEP_NAMES = {"process_photos": "Thumbnails", "embed_photos": "Reading with CLIP (for search)",
              "tag_photos": "Suggesting tags", "generate": "Generating images", "neardup": "Finding near-duplicates"}


@dataclass
class Entry:
    title: str
    jobs: list[Job] = field(default_factory=list)
    link: str | None = None
    link_label: str = ""

    @property
    def first(self) -> Job:
        return self.jobs[0]

    @property
    def started_at(self):
        return min((j.started_at or j.created_at for j in self.jobs), default=None)

    @property
    def finished_at(self):
        return None if any(j.finished_at is None for j in self.jobs) else max(j.finished_at for j in self.jobs)

    @property
    def state(self) -> str:
        states = {j.state for j in self.jobs}
        for state in ("failed", "running", "queued", "cancelled"):
            if state in states:
                return state
        return "succeeded"


def step_name(job: Job) -> str:
    return STEP_NAMES.get(job.kind, job.kind.replace("_", " ").capitalize())


def entries(jobs: list[Job]) -> list[Entry]:
    """Jobs (newest first) grouped into entries, in the order of each entry's newest job."""
    grouped: dict[str, Entry] = {}
    for job in jobs:
        key = f"upload:{job.params['upload']}" if isinstance(job.params, dict) and job.params.get("upload") else f"job:{job.pk}"
        grouped.setdefault(key, Entry(title="")).jobs.append(job)
    for entry in grouped.values():
        entry.jobs.sort(key=lambda j: j.pk)
        for job in entry.jobs:
            job.step_name = step_name(job)
        _describe(entry)
    return list(grouped.values())


def _describe(entry: Entry) -> None:
    job = entry.first
    where = f" in {job.collection.name}" if job.collection_id else ""
    photos = sum(j.total for j in entry.jobs if j.kind == "process_photos")
    if photos:
        entry.title = f"Processing {photos} photo{'s' if photos != 1 else ''}{where}"
    elif job.kind == "embed_photos":
        entry.title = f"Reading {job.total} photo{'s' if job.total != 1 else ''} with CLIP{where}"
    elif job.kind == "tag_photos":
        entry.title = f"Suggesting tags for {job.total} photo{'s' if job.total != 1 else ''}{where}"
    elif job.kind == "generate":
        entry.title = f"Generating {job.total} image{'s' if job.total != 1 else ''}"
        entry.link, entry.link_label = _url("generation:studio"), "the studio"
    else:
        entry.title = f"{step_name(job)}{where}"
    if job.collection_id and entry.link is None:
        entry.link, entry.link_label = reverse("collection", args=[job.collection_id]), job.collection.name


def _url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None
