"""The generation plugin: requests and limits, the job (sampling, CLIP scoring, ranking), the
per-user queue, reproducibility, saving with provenance, and permissions on everything it serves."""
import io

import numpy as np
import pytest
from PIL import Image

from ml_core.rerank import calibrated_scores, rank_scores

from atelier.jobs.models import Job
from plugins.generation import services
from plugins.generation.models import Candidate, Generation, Provenance
from tests.helpers import add_member, api_for

pytestmark = pytest.mark.django_db

SMALL = {"prompt": "a red circle on the left", "candidates": 6, "keep": 2, "seed": 11, "top_k": 64}


def generate(api, capture, **overrides):
    with capture(execute=True):
        res = api.post("/api/generate/", {**SMALL, **overrides}, format="json")
    assert res.status_code == 202, res.json()
    return api.get(f"/api/generations/{res.json()['id']}/").json()


def pngs(generation_id):
    return {c.index: bytes(c.png) for c in Candidate.objects.filter(generation_id=generation_id)}


def test_generate_samples_scores_ranks_and_records_everything(api, owner, django_capture_on_commit_callbacks):
    out = generate(api, django_capture_on_commit_callbacks)
    assert out["state"] == "succeeded" and out["ranked"] and out["sampled"] == 6
    assert out["job"]["kind"] == "generate" and out["job"]["done"] == out["job"]["total"] == 6
    # the top `keep` by ranking score, best first, each with an image URL that serves a PNG
    ranking = sorted((c["rank_score"] for c in out["candidates_list"]), reverse=True)
    assert [r["rank"] for r in out["results"]] == [1, 2]
    assert [r["rank_score"] for r in out["results"]] == ranking[:2]
    # the ranking score is rank_scores of the candidate's own PNG (contradiction margin on smoothed views), not its cosine
    best = Candidate.objects.get(generation_id=out["id"], index=out["results"][0]["index"])
    png = [Image.open(io.BytesIO(bytes(best.png)))]
    assert best.rank_score == pytest.approx(float(rank_scores(services.clip_engine(), SMALL["prompt"], png,
                                                              backend="atelier-dalle")[0]), abs=2e-3)
    assert abs(best.rank_score - float(calibrated_scores(services.clip_engine(), SMALL["prompt"], png)[0])) > 1e-4
    assert abs(best.rank_score - best.score) > 1e-3
    assert api.get(out["results"][0]["image_url"]).content[:8] == b"\x89PNG\r\n\x1a\n"
    generation = Generation.objects.get(pk=out["id"])
    assert generation.model_version.startswith("atelier-dalle:") and generation.clip_model
    assert (generation.seed, generation.top_k, generation.temperature) == (11, 64, 1.0)
    assert generation.sample_seconds > 0 and generation.rerank_seconds > 0
    assert out["timing"]["rerank_share"] is not None


def test_same_request_same_images_other_seed_other_images(api, django_capture_on_commit_callbacks):
    first = generate(api, django_capture_on_commit_callbacks)
    again = generate(api, django_capture_on_commit_callbacks)
    other = generate(api, django_capture_on_commit_callbacks, seed=12)
    assert pngs(first["id"]) == pngs(again["id"])
    assert [c["score"] for c in first["candidates_list"]] == [c["score"] for c in again["candidates_list"]]
    assert pngs(first["id"]) != pngs(other["id"])


def test_chunked_job_gives_the_same_images(api, settings, monkeypatch, django_capture_on_commit_callbacks):
    whole = generate(api, django_capture_on_commit_callbacks, candidates=10, keep=3)
    settings.ATELIER_CHUNK_SECONDS = 0          # one batch per step: the job re-enqueues itself
    monkeypatch.setenv("ATELIER_PLUGIN_GENERATION_BATCH_SIZE", "4")
    chunked = generate(api, django_capture_on_commit_callbacks, candidates=10, keep=3)
    assert pngs(whole["id"]) == pngs(chunked["id"]) and len(pngs(whole["id"])) == 10
    assert [r["index"] for r in whole["results"]] == [r["index"] for r in chunked["results"]]


@pytest.mark.parametrize("body, field", [
    ({"prompt": ""}, "prompt"),
    ({"prompt": "x" * 201}, "prompt: 201 characters is over the limit of 200"),
    ({"candidates": 0}, "candidates"),
    ({"candidates": 513}, "candidates"),
    ({"candidates": "many"}, "candidates"),
    ({"keep": 7}, "keep"),                  # more than the 6 candidates
    ({"candidates": 64, "keep": 33}, "keep"),
    ({"temperature": 0}, "temperature"),
    ({"top_p": 1.5}, "top_p"),
    ({"seed": -1}, "seed"),
    ({"backend": "nope"}, "backend: no backend named 'nope'"),
    ({"backend": "min-dalle"}, "backend: min-dalle is not ready"),
])
def test_bad_requests_are_refused_naming_the_field(api, body, field):
    res = api.post("/api/generate/", {**SMALL, **body}, format="json")
    assert res.status_code == 400
    assert field in res.json()["error"]
    assert not Generation.objects.exists() and not Job.objects.filter(kind="generate").exists()


def test_queue_per_user_concurrency_and_refusal(api, owner, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setenv("ATELIER_PLUGIN_GENERATION_RUNNING_PER_USER", "1")
    monkeypatch.setenv("ATELIER_PLUGIN_GENERATION_QUEUED_PER_USER", "1")
    with django_capture_on_commit_callbacks(execute=False) as created:
        res = api.post("/api/generate/batch/", {**SMALL, "prompts": "a red circle\na blue square"}, format="json")
    assert res.status_code == 202, res.json()
    first, second = (g["id"] for g in res.json()["generations"])
    assert res.json()["generations"][1]["batch"] == "batch of 2"
    # a third request exceeds running (1) + queued (1): refused whole, nothing created
    refused = api.post("/api/generate/", SMALL, format="json")
    assert refused.status_code == 429 and "at most 2 are allowed" in refused.json()["error"]
    assert Generation.objects.count() == 2
    with django_capture_on_commit_callbacks(execute=False) as sent:
        for callback in created:   # the request's own dispatch: only one may start
            callback()
    assert list(Generation.objects.filter(dispatched=True).values_list("pk", flat=True)) == [first]
    assert services.queue_position(Generation.objects.get(pk=second)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        for callback in sent:      # run the first; finishing it hands the second to the worker
            callback()
    states = dict(Generation.objects.values_list("pk", "ranked"))
    assert states == {first: True, second: True}
    assert api.get(f"/api/generations/{second}/").json()["sampled"] == 6


def test_batch_with_one_bad_prompt_creates_nothing(api):
    res = api.post("/api/generate/batch/", {**SMALL, "prompts": ["a red circle", "y" * 300]}, format="json")
    assert res.status_code == 400 and res.json()["error"].startswith("prompt 2: prompt:")
    assert not Generation.objects.exists()


def test_saved_images_are_photos_with_provenance_and_their_clip_score(api, owner, collection, client,
                                                                       django_capture_on_commit_callbacks):
    from atelier.embeddings.services import model_status, stored_vectors
    from plugins.generation.services import clip_engine

    out = generate(api, django_capture_on_commit_callbacks)
    keep = [r["index"] for r in out["results"]]
    with django_capture_on_commit_callbacks(execute=True):
        res = api.post(f"/api/generations/{out['id']}/save/", {"collection": collection.pk, "candidates": keep}, format="json")
    assert res.status_code == 201, res.json()
    saved = res.json()["saved"]
    assert [s["candidate"] for s in saved] == sorted(keep) and all(s["created"] for s in saved)
    photo_ids = [s["photo"] for s in saved]
    photos = {p.pk: p for p in collection.photos.filter(pk__in=photo_ids)}
    assert all(p.title == SMALL["prompt"] and p.thumbs_ready for p in photos.values())
    provenance = Provenance.objects.get(photo_id=photo_ids[0])
    assert (provenance.prompt, provenance.seed, provenance.backend) == (SMALL["prompt"], 11, "atelier-dalle")
    assert provenance.settings["top_k"] == 64 and provenance.model_version == out["model_version"]
    # the candidate's CLIP score (the provenance's) is the cosine the saved photo gets in the library
    ids, vectors = stored_vectors(model_status().model_id, photo_ids=photo_ids)
    text = clip_engine().encode_text(SMALL["prompt"])
    by_photo = {int(i): float(v @ text) for i, v in zip(ids, vectors)}
    for s in saved:
        assert by_photo[s["photo"]] == pytest.approx(Candidate.objects.get(generation_id=out["id"], index=s["candidate"]).score, abs=2e-3)
    # the photo page shows where it came from
    client.force_login(owner)
    page = client.get(f"/photos/{photo_ids[0]}/").content.decode()
    assert 'id="provenance"' in page and SMALL["prompt"] in page and "atelier-dalle" in page
    assert f"{provenance.clip_score:.3f}" in page
    # saving again is idempotent: no duplicate photos
    again = api.post(f"/api/generations/{out['id']}/save/", {"collection": collection.pk, "candidates": keep}, format="json")
    assert again.status_code == 201 and not any(s["created"] for s in again.json()["saved"])
    assert collection.photos.count() == 2


def test_save_checks_candidates_and_permissions(api, owner, collection, make_user, django_capture_on_commit_callbacks):
    from atelier.library.models import Collection

    out = generate(api, django_capture_on_commit_callbacks)
    url = f"/api/generations/{out['id']}/save/"
    missing = api.post(url, {"collection": collection.pk, "candidates": [0, 99]}, format="json")
    assert missing.status_code == 400 and "no candidate 99" in missing.json()["error"]
    assert not collection.photos.exists()
    stranger = make_user("sam")
    theirs = Collection.objects.create(owner=stranger, name="Sam's", visibility="shared")
    assert api.post(url, {"collection": theirs.pk, "candidates": [0]}, format="json").status_code == 403
    hidden = Collection.objects.create(owner=stranger, name="Private")
    assert api.post(url, {"collection": hidden.pk, "candidates": [0]}, format="json").status_code == 404
    add_member(theirs, owner, "editor")
    assert api.post(url, {"collection": theirs.pk, "candidates": [0]}, format="json").status_code == 201


def test_generations_and_images_are_private_to_their_creator(api, make_user, client, django_capture_on_commit_callbacks):
    out = generate(api, django_capture_on_commit_callbacks)
    other = api_for(make_user("eve"))
    for url in (out["url"], out["results"][0]["image_url"], f"/api/generations/{out['id']}/preview.png"):
        assert other.get(url).status_code == 404, url
        assert client.get(url).status_code in (401, 403), url
    assert other.get("/api/generations/").json()["count"] == 0
    assert other.post(f"/api/generations/{out['id']}/save/", {"collection": 1, "candidates": [0]}, format="json").status_code == 404
    assert client.post("/api/generate/", SMALL, content_type="application/json").status_code in (401, 403)


def test_backends_report_readiness_with_reasons(api, monkeypatch, tmp_path):
    listed = {b["name"]: b for b in api.get("/api/generation-backends/").json()["results"]}
    assert listed["atelier-dalle"]["ready"] and listed["atelier-dalle"]["default"]
    assert set(listed["atelier-dalle"]["supports"]) == {"temperature", "top_k", "top_p"}
    assert not listed["min-dalle"]["ready"] and "min-dalle" in listed["min-dalle"]["reason"]
    monkeypatch.setenv("ATELIER_PLUGIN_GENERATION_DALLE_WEIGHTS", str(tmp_path / "nowhere"))
    listed = {b["name"]: b for b in api.get("/api/generation-backends/").json()["results"]}
    reason = listed["atelier-dalle"]["reason"]
    assert not listed["atelier-dalle"]["ready"] and str(tmp_path / "nowhere") in reason and "python -m ml_core.train dalle" in reason
    res = api.post("/api/generate/", SMALL, format="json")
    assert res.status_code == 400 and "atelier-dalle is not ready" in res.json()["error"]


def test_min_dalle_readiness_names_the_missing_weights(monkeypatch, tmp_path):
    from plugins.generation import backends

    monkeypatch.setattr(backends.importlib.util, "find_spec", lambda name: object())  # as if installed
    backend = backends.MinDalleBackend(None)
    assert "MIN_DALLE_MODELS_ROOT" in backend.readiness().reason
    (tmp_path / "dalle_bart_mega").mkdir()
    (tmp_path / "dalle_bart_mega" / "vocab.json").write_text("{}")
    reason = backends.MinDalleBackend(tmp_path).readiness().reason
    assert "merges.txt" in reason and "vqgan/detoker.pt" in reason and "vocab.json" not in reason


def test_history_lists_newest_first_with_everything_to_restore(api, django_capture_on_commit_callbacks):
    generate(api, django_capture_on_commit_callbacks)
    generate(api, django_capture_on_commit_callbacks, prompt="two green triangles", temperature=0.8, top_p=0.9, seed=5)
    history = api.get("/api/generations/").json()
    assert history["count"] == 2
    newest = history["results"][0]
    assert newest["settings"] == {"prompt": "two green triangles", "backend": "atelier-dalle", "candidates": 6,
                                  "keep": 2, "seed": "5", "temperature": 0.8, "top_k": 64, "top_p": 0.9}
    assert newest["top"]["rank"] == 1
    assert api.get("/api/generations/?active=1").json()["count"] == 0


def test_studio_page_and_nav(client, owner, collection):
    client.force_login(owner)
    page = client.get("/plugins/generation/").content.decode()
    assert 'id="studio-form"' in page and "Holidays" in page and "min-dalle</strong>: not ready" in page
    assert 'href="/plugins/generation/">Studio</a>' in client.get("/collections/").content.decode()
    assert client.get("/plugins/generation/", follow=False).status_code == 200
    client.logout()
    assert client.get("/plugins/generation/").status_code == 302


def test_rerank_picks_the_best_scores_and_keeps_ties_in_order():
    from ml_core.rerank import rank_by_score

    assert rank_by_score(np.array([0.1, 0.3, 0.3, 0.2])).tolist() == [1, 2, 3, 0]


def test_cancelled_request_leaves_the_queue_and_the_next_one_runs(api, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setenv("ATELIER_PLUGIN_GENERATION_RUNNING_PER_USER", "1")
    with django_capture_on_commit_callbacks(execute=False) as created:
        res = api.post("/api/generate/batch/", {**SMALL, "prompts": ["a red circle", "a blue square"]}, format="json")
    first, second = res.json()["generations"]
    assert api.post(f"/api/jobs/{first['job']['id']}/cancel/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        for callback in created:
            callback()
    assert not Candidate.objects.filter(generation_id=first["id"]).exists()
    assert api.get(f"/api/generations/{second['id']}/").json()["ranked"]


def test_a_running_generation_that_fails_or_is_cancelled_hands_its_place_on(api, owner, monkeypatch,
                                                                            django_capture_on_commit_callbacks):
    """No page has to be opened: the job_finished hook dispatches the next waiting request."""
    from atelier.jobs import services as jobs

    monkeypatch.setenv("ATELIER_PLUGIN_GENERATION_RUNNING_PER_USER", "1")
    with django_capture_on_commit_callbacks(execute=False) as created:
        res = api.post("/api/generate/batch/", {**SMALL, "prompts": ["one", "two", "three"]}, format="json")
    first, second, third = (Generation.objects.get(pk=g["id"]) for g in res.json()["generations"])
    with django_capture_on_commit_callbacks(execute=False):
        for callback in created:   # dispatch: only the first is handed to the worker (not run here)
            callback()
    assert [g.pk for g in Generation.objects.filter(dispatched=True)] == [first.pk]
    with django_capture_on_commit_callbacks(execute=False) as after_fail:
        jobs.do_fail_job(job_id=first.job_id, error="worker lost")
    for callback in after_fail:    # job_finished -> dispatch (its enqueue is captured, not run)
        with django_capture_on_commit_callbacks(execute=False):
            callback()
    assert set(Generation.objects.filter(dispatched=True).values_list("pk", flat=True)) == {first.pk, second.pk}
    with django_capture_on_commit_callbacks(execute=True):
        jobs.check_cancel_job(job=second.job, user=owner)
    third.refresh_from_db()
    assert third.ranked and third.job.state == "succeeded"


def test_the_api_is_described_in_the_openapi_schema(api):
    res = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = res.json() if res["Content-Type"].endswith("json") else __import__("yaml").safe_load(res.content)
    generate = schema["paths"]["/api/generate/"]["post"]
    body = generate["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"prompt", "candidates", "keep", "seed", "temperature", "top_k", "top_p"} <= set(schema["components"]["schemas"][body]["properties"])
    assert {"202", "400", "429"} <= set(generate["responses"])
    for path in ("/api/generations/", "/api/generations/{generation_id}/", "/api/generations/{generation_id}/save/",
                 "/api/generate/batch/", "/api/generation-backends/"):
        assert path in schema["paths"], path


@pytest.mark.django_db(False)
def test_dalle_backend_samples_with_the_weights_recommended_settings():
    """A request without top_k gets the weights' recommended sampling (config.json "sampling":
    guidance 2, top-k 16); one that sets top_k gets exactly that, with the same guidance."""
    from ml_core.dalle import load_dalle
    from plugins.generation.backends import AtelierDalleBackend, SamplingSettings

    shipped_cond = 2.0   # the guidance config.json recommends (docs/ml/dalle.md)
    dalle = load_dalle()
    assert dalle.sampling == {"temperature": 1.0, "top_k": 16, "cond_scale": shipped_cond}
    backend = AtelierDalleBackend()
    sampler = dalle.sampler()

    def images(settings):
        return np.stack([np.asarray(c.image) for c in backend.generate("a blue star", count=2, seed=4,
                                                                      settings=settings)])

    def expected(**kw):
        out = sampler.sample("a blue star", n=2, seed=4, **kw)
        return (out.images * 255).round().byte().permute(0, 2, 3, 1).numpy()

    assert np.array_equal(images(SamplingSettings()), expected(top_k=16, cond_scale=shipped_cond))
    assert (backend.cond_scale, backend.default_top_k) == (shipped_cond, 16)
    assert np.array_equal(images(SamplingSettings(top_k=64)), expected(top_k=64, cond_scale=shipped_cond))
    assert not np.array_equal(expected(top_k=16, cond_scale=shipped_cond), expected(top_k=None, cond_scale=shipped_cond))


def test_each_new_preview_sprite_gets_its_own_url(api, owner):
    """The page sets the preview <img> from this URL: the same URL for a newer sprite would keep the old picture."""
    request = services.parse_request(SMALL)
    generation = services.start_generation(user=owner, request=request)
    urls = []
    for colour in ((200, 30, 30), (30, 30, 200)):
        sprite = services.sprite([Image.new("RGB", (8, 8), colour)])
        Generation.objects.filter(pk=generation.pk).update(preview_png=sprite, preview_first=0)
        urls.append(api.get(f"/api/generations/{generation.pk}/").json()["preview"])
    assert urls[0] != urls[1] and all(u.startswith(f"/api/generations/{generation.pk}/preview") for u in urls)
    assert api.get(urls[1]).content == bytes(Generation.objects.get(pk=generation.pk).preview_png)


def test_sampling_batches_are_small_enough_to_stream(monkeypatch):
    class Backend:
        batch_size = 16

    assert [services.sampling_batch(n, Backend()) for n in (1, 6, 16, 64, 512)] == [1, 2, 4, 16, 16]
    monkeypatch.setenv("ATELIER_PLUGIN_GENERATION_STREAM_BATCHES", "1")   # one batch as large as the backend's
    assert [services.sampling_batch(n, Backend()) for n in (6, 16, 64)] == [6, 16, 16]
