"""Generation requests: validation and limits, the per-user queue, the sampling/reranking step,
ranking, and saving chosen candidates into a collection with their provenance."""
from __future__ import annotations

import io
import logging
import secrets
import time
from dataclasses import asdict, dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F

from atelier.plugin_api import (InvalidInput, Job, PermissionDenied, Rejected, can_edit, clean_text, worker_engine,
                                create_job, do_set_progress, enqueue, first_by_name, ingest_one, is_cancelled,
                                plugin_setting, start_processing_job)
from plugins.generation.backends import SamplingSettings
from plugins.generation.models import Candidate, Generation, Provenance
from plugins.generation.plugin import PLUGIN
from plugins.generation.presentation import candidate_json

log = logging.getLogger(__name__)
JOB_KIND = "generate"
ACTIVE_STATES = (Job.State.QUEUED, Job.State.RUNNING)
MAX_SEED = 2**62
MAX_BATCH_PROMPTS = 50


class QueueFull(Exception):
    """The user already has as many generations waiting as allowed."""


def setting(key: str):
    return plugin_setting(PLUGIN, key)


# ------------------------------------------------------------------------------ backends
def backends() -> dict:
    """name -> backend, from every plugin (this one included) through the hook."""
    return first_by_name("register_generation_backends", lambda result: ((b.name, b) for b in result or []))


def backend_statuses() -> list[dict]:
    out = []
    for name, backend in backends().items():
        ready = backend.readiness()
        out.append({"name": name, "label": getattr(backend, "label", name), "ready": bool(ready),
                    "reason": getattr(ready, "reason", ""),
                    "supports": sorted(getattr(backend, "supports", ())),
                    "default": name == setting("default_backend")})
    return out


def ready_backend(name: str):
    backend = backends().get(name)
    if backend is None:
        raise InvalidInput(f"backend: no backend named {name!r} (installed: {', '.join(sorted(backends())) or 'none'})")
    ready = backend.readiness()
    if not ready:
        raise InvalidInput(f"backend: {name} is not ready: {ready.reason}")
    return backend


def clip_engine():
    return worker_engine()


# ------------------------------------------------------------------------------ requests
@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    backend: str
    candidates: int
    keep: int
    seed: int
    temperature: float
    top_k: int | None
    top_p: float | None

    def sampling(self) -> SamplingSettings:
        return SamplingSettings(self.temperature, self.top_k, self.top_p)


def _number(body: dict, key: str, kind, default, low, high, *, allow_none: bool = False):
    value = body.get(key, default)
    if value is None or value == "":
        if allow_none:
            return None
        value = default
    if isinstance(value, bool):
        raise InvalidInput(f"{key}: must be a number")
    try:
        number = kind(value)
        if kind is int and float(value) != number:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(f"{key}: must be {'an integer' if kind is int else 'a number'}, got {str(value)[:40]!r}") from None
    if not low <= number <= high:
        raise InvalidInput(f"{key}: must be between {low} and {high}, got {number}")
    return number


def parse_request(body: dict) -> GenerationRequest:
    """A request body -> a checked GenerationRequest; InvalidInput names the field that is wrong."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidInput("prompt: required (the text to draw)")
    prompt = " ".join(clean_text(prompt, "prompt").split())
    limit = int(setting("max_prompt_chars"))
    if len(prompt) > limit:
        raise InvalidInput(f"prompt: {len(prompt)} characters is over the limit of {limit}")
    backend = body.get("backend") or setting("default_backend")
    if not isinstance(backend, str):
        raise InvalidInput("backend: must be a backend name")
    max_candidates, max_keep = int(setting("max_candidates")), int(setting("max_keep"))
    candidates = _number(body, "candidates", int, min(64, max_candidates), 1, max_candidates)
    keep = _number(body, "keep", int, min(8, candidates), 1, min(max_keep, candidates))
    seed = _number(body, "seed", int, None, 0, MAX_SEED, allow_none=True)
    if seed is None:
        seed = secrets.randbelow(2**31)   # recorded, so even a random request can be reproduced
    temperature = _number(body, "temperature", float, 1.0, 0.05, 5.0)
    top_k = _number(body, "top_k", int, None, 1, 100_000, allow_none=True)
    top_p = _number(body, "top_p", float, None, 0.01, 1.0, allow_none=True)
    request = GenerationRequest(prompt, backend, candidates, keep, seed, temperature, top_k, top_p)
    used = request.sampling().used()
    found = ready_backend(backend)
    unsupported = used - set(getattr(found, "supports", used))
    if unsupported:
        raise InvalidInput(f"{', '.join(sorted(unsupported))}: not supported by backend {backend}")
    return request


def parse_batch(body: dict) -> list[GenerationRequest]:
    """{prompts: [...], ...shared settings} -> one request per non-empty prompt line."""
    prompts = body.get("prompts") if isinstance(body, dict) else None
    if isinstance(prompts, str):
        prompts = prompts.splitlines()
    if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
        raise InvalidInput("prompts: required, a list of texts (or one per line)")
    prompts = [clean_text(p, "prompts") for p in prompts]
    prompts = [p for p in prompts if p.strip()]
    if not prompts:
        raise InvalidInput("prompts: no prompt given")
    if len(prompts) > MAX_BATCH_PROMPTS:
        raise InvalidInput(f"prompts: {len(prompts)} is over the limit of {MAX_BATCH_PROMPTS} per batch")
    out = []
    for number, prompt in enumerate(prompts, 1):
        try:
            out.append(parse_request({**body, "prompt": prompt}))
        except InvalidInput as exc:
            raise InvalidInput(f"prompt {number}: {exc}") from None
    return out


def _check_queue_room(user, adding: int) -> None:
    if not user.is_authenticated:
        raise PermissionDenied("sign in to generate images")
    waiting = Generation.objects.filter(owner=user, ranked=False, job__state__in=ACTIVE_STATES).count()
    room = int(setting("running_per_user")) + int(setting("queued_per_user")) - waiting
    if adding > room:
        raise QueueFull(f"you have {waiting} generations running or waiting; at most "
                        f"{int(setting('running_per_user')) + int(setting('queued_per_user'))} are allowed, "
                        f"so {adding} more cannot be queued: wait for some to finish or cancel them")


@transaction.atomic
def start_generations(*, user, requests: list[GenerationRequest], batch: str = "") -> list[Generation]:
    """Creates the jobs and rows (all or nothing) and hands as many to the gpu queue as the user's
    concurrency allows; the rest wait in the user's queue."""
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()  # one queue decision at a time
    _check_queue_room(user, len(requests))
    created = []
    for request in requests:
        job = create_job(owner=user, kind=JOB_KIND, total=request.candidates,
                                       message="waiting in your queue")
        generation = Generation.objects.create(owner=user, job=job, batch=batch[:64], **asdict(request))
        Job.objects.filter(pk=job.pk).update(params={"generation": generation.pk})
        created.append(generation)
    transaction.on_commit(lambda: dispatch_pending(user.pk))
    return created


def start_generation(*, user, request: GenerationRequest) -> Generation:
    return start_generations(user=user, requests=[request])[0]


def dispatch_pending(user_id: int) -> int:
    """Sends the user's oldest waiting generations to the gpu queue while fewer than
    `running_per_user` are sampling. Called on every request, when one of the user's generations
    ends in any way (the job_finished hook), and when the studio or the list is opened."""
    from plugins.generation.tasks import generate

    sent = 0
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user_id).first()
        mine = Generation.objects.filter(owner_id=user_id, job__state__in=ACTIVE_STATES, ranked=False)
        free = int(setting("running_per_user")) - mine.filter(dispatched=True).count()
        if free <= 0:
            return 0
        for generation in mine.filter(dispatched=False).order_by("created_at", "id")[:free]:
            Generation.objects.filter(pk=generation.pk).update(dispatched=True)
            do_set_progress(job_id=generation.job_id, done=0, message="queued for a worker")
            enqueue(generate, job_id=generation.job_id)
            sent += 1
    return sent


# ------------------------------------------------------------------------------ the job step
def png_bytes(image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False)
    return out.getvalue()


def sprite(images) -> bytes:
    """Images side by side in one PNG (the in-flight batch's partial preview)."""
    from PIL import Image

    w, h = images[0].size
    sheet = Image.new("RGB", (w * len(images), h))
    for i, image in enumerate(images):
        sheet.paste(image, (i * w, 0))
    return png_bytes(sheet)


def sampling_batch(total: int, backend) -> int:
    """Candidates sampled (and then scored, stored and pushed) together: the backend's batch, but
    small enough that a request comes in at least `stream_batches` steps, so the studio's grid grows
    batch by batch instead of filling at once at the end (however busy the machine)."""
    largest = getattr(backend, "batch_size", None) or int(setting("batch_size"))
    return max(1, min(largest, -(-total // max(1, int(setting("stream_batches"))))))


def run_generation_step(job: Job, deadline: float):
    """Samples and scores candidates batch by batch until the deadline; ranks them when all exist.
    Each batch is stored in its own transaction and pushed to the owner's pages with its candidates
    as soon as it is scored. Progress comes from the candidate rows, so a re-delivered step redoes nothing."""
    from ml_core.rerank import score_candidates

    from atelier.plugin_api import Step

    generation = Generation.objects.get(pk=job.params["generation"])
    backend = ready_backend(generation.backend)
    engine = clip_engine()
    if not generation.model_version or not generation.clip_model:
        generation.model_version, generation.clip_model = backend.model_version(), engine.model_id
        generation.save(update_fields=["model_version", "clip_model"])
    total, batch_size = generation.candidates, sampling_batch(generation.candidates, backend)
    done = generation.candidate_set.count()
    last_preview = [0.0]

    def on_preview(first: int, images) -> None:
        if time.monotonic() - last_preview[0] < 0.5:   # a hint for the page, not every row
            return
        last_preview[0] = time.monotonic()
        Generation.objects.filter(pk=generation.pk).update(preview_png=sprite(images), preview_first=first)
        do_set_progress(job_id=job.pk, done=done, message=f"sampling candidates {first + 1}–{first + len(images)}")

    while done < total and not is_cancelled(job.pk):   # at least one batch per step
        count = min(batch_size, total - done)
        started = time.perf_counter()
        produced = list(backend.generate(generation.prompt, count=count, seed=generation.seed, first=done,
                                         settings=SamplingSettings(generation.temperature, generation.top_k, generation.top_p),
                                         on_preview=on_preview))
        sampled = time.perf_counter()
        scores, rank_scores = score_candidates(engine, generation.prompt, [c.image for c in produced],
                                               backend=generation.backend)
        if engine.profile.ranking_for(generation.backend).method == "cosine":
            rank_scores = [None] * len(produced)   # ranked by the cosine itself: stored once
        scored = time.perf_counter()
        with transaction.atomic():
            stored = Candidate.objects.bulk_create([
                Candidate(generation=generation, index=c.index, seed=c.seed, png=png_bytes(c.image),
                          width=c.image.width, height=c.image.height, score=float(s), rank_score=None if r is None else float(r))
                for c, s, r in zip(produced, scores, rank_scores)])
            Generation.objects.filter(pk=generation.pk).update(
                sample_seconds=F("sample_seconds") + (sampled - started),
                rerank_seconds=F("rerank_seconds") + (scored - sampled), preview_png=None)
        done += len(produced)
        do_set_progress(job_id=job.pk, done=done, message=f"sampled and scored {done}/{total}",
                        detail={"generation": generation.pk, "candidates": [candidate_json(generation, c) for c in stored]})
        if time.monotonic() >= deadline:
            break
    if done < total:
        return Step(done=done, total=total, more=True, message=f"sampled and scored {done}/{total}")
    best = rank(generation)   # when the job is then marked finished, job_finished starts the next one
    return Step(done=total, total=total, more=False,
                message=f"kept the best {generation.keep} of {total} (top ranking score {best:.3f})")


def ranking_score(candidate: Candidate) -> float:
    """What the reranker orders by: the profile's ranking score, or the cosine where the CLIP's
    profile has no ranking measured on the candidate's backend."""
    return candidate.score if candidate.rank_score is None else candidate.rank_score


def rank(generation: Generation) -> float:
    """Marks the top `keep` candidates by ranking score (ties: lower index first). Returns the best."""
    from ml_core.rerank import rank_by_score

    candidates = list(generation.candidate_set.only("pk", "index", "score", "rank_score").order_by("index"))
    order = rank_by_score([ranking_score(c) for c in candidates])
    for candidate in candidates:
        candidate.rank = None
    for position, i in enumerate(order[:generation.keep], 1):
        candidates[i].rank = position
    with transaction.atomic():
        Candidate.objects.bulk_update(candidates, ["rank"])
        Generation.objects.filter(pk=generation.pk).update(ranked=True)
    generation.ranked = True
    return ranking_score(candidates[order[0]]) if candidates else 0.0


# ------------------------------------------------------------------------------ keeping results
def save_to_collection(*, user, generation: Generation, indices: list[int], collection) -> list[dict]:
    """Adds the chosen candidates to `collection` as photos (embedded, searchable, taggable like
    any photo) with their provenance. All or nothing."""
    if generation.owner_id != user.pk:
        raise PermissionDenied("only the creator of a generation can save its images")
    if not can_edit(user, collection):
        raise PermissionDenied(f"you cannot add photos to collection {collection.name!r}")
    if not isinstance(indices, list) or not indices or not all(isinstance(i, int) and not isinstance(i, bool) for i in indices):
        raise InvalidInput("candidates: a non-empty list of candidate indices")
    wanted = sorted(set(indices))
    found = {c.index: c for c in generation.candidate_set.filter(index__in=wanted)}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise InvalidInput(f"candidates: no candidate {', '.join(map(str, missing[:10]))} in generation {generation.pk}")
    saved, created_ids = [], []
    with transaction.atomic():
        for index in wanted:
            candidate = found[index]
            try:
                photo, created = ingest_one(collection=collection, user=user, stream=io.BytesIO(bytes(candidate.png)),
                                            filename=f"generated-{generation.pk}-{index}.png")
            except Rejected as exc:
                raise InvalidInput(f"candidate {index}: {exc}") from None
            if created:
                photo.title = generation.prompt[:300]
                photo.caption = f"Generated by {generation.backend} from “{generation.prompt}”"
                photo.save(update_fields=["title", "caption"])
                created_ids.append(photo.pk)
            Provenance.objects.update_or_create(photo=photo, defaults={
                "generation": generation, "candidate_index": index, "prompt": generation.prompt,
                "backend": generation.backend, "model_version": generation.model_version, "seed": generation.seed,
                "candidate_seed": candidate.seed, "clip_model": generation.clip_model, "clip_score": candidate.score,
                "settings": generation.settings_dict()})
            saved.append({"candidate": index, "photo": photo.pk, "created": created})
        if created_ids:
            start_processing_job(collection=collection, user=user, photo_ids=created_ids)
    return saved


def queue_position(generation: Generation) -> int | None:
    """1-based place in the owner's waiting queue, None once handed to a worker."""
    if generation.dispatched or generation.job.state not in ACTIVE_STATES:
        return None
    return Generation.objects.filter(owner_id=generation.owner_id, dispatched=False, job__state__in=ACTIVE_STATES,
                                     created_at__lte=generation.created_at, id__lte=generation.pk).count()
