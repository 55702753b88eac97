"""Issue 18, finding 4: bad input answers a 4xx JSON error naming the field, never a 500.

Surrogates are sent as the JSON escape a hostile client would write (\\ud800), which Python's
json module decodes into a lone surrogate."""
import json

import pytest
from django.test import Client

from atelier.jobs.services import create_job
from atelier.tagging.models import Vocabulary
from tests.helpers import api_for

SURROGATE = '"bad \\ud800 text"'


def post_raw(api, url, body: str):
    return api.post(url, data=body, content_type="application/json")


def assert_field_error(response, field: str, status: int = 400):
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert "error" in body and field in body.get("fields", {}), body


@pytest.fixture
def generation(owner):
    from plugins.generation.models import Generation

    job = create_job(owner=owner, kind="generate")
    return Generation.objects.create(owner=owner, job=job, prompt="red circle", backend="dalle",
                                     candidates=4, keep=2, seed=1)


@pytest.fixture
def vocabulary(collection):
    return Vocabulary.objects.create(collection=collection, name="things")


# -- impossible dates ----------------------------------------------------------------------------
@pytest.mark.parametrize("stamp", ["2024-02-30T00:00", "2024-01-01T25:00", "2024-02-30"])
def test_impossible_date_is_a_field_error_on_the_api(db, stamp):
    response = Client().get("/api/search/", {"q": "red", "date_from": stamp})
    assert response.status_code == 400
    assert "date_from" in response.json()["error"]


@pytest.mark.parametrize("stamp", ["2024-02-30T00:00", "2024-01-01T25:00"])
def test_impossible_date_is_a_form_error_on_the_search_page(db, stamp):
    response = Client().get("/search/", {"q": "red", "date_to": stamp})
    assert response.status_code == 400
    assert b'id="search-error"' in response.content and b"date_to" in response.content


# -- lone surrogates and NUL in text ------------------------------------------------------------
def test_lone_surrogate_in_vocabulary_and_tag_fields(api, collection, vocabulary):
    assert_field_error(post_raw(api, "/api/vocabularies/", f'{{"collection": {collection.pk}, "name": {SURROGATE}}}'), "name")
    assert_field_error(post_raw(api, f"/api/vocabularies/{vocabulary.pk}/tags/", f'{{"name": "x", "synonyms": [{SURROGATE}]}}'),
                       "synonyms[0]")
    response = api.patch(f"/api/vocabularies/{vocabulary.pk}/", data=f'{{"name": {SURROGATE}}}', content_type="application/json")
    assert_field_error(response, "name")


def test_lone_surrogate_in_generation_requests(api):
    assert_field_error(post_raw(api, "/api/generate/", f'{{"prompt": {SURROGATE}}}'), "prompt")
    assert_field_error(post_raw(api, "/api/generate/batch/", f'{{"prompts": ["ok", {SURROGATE}]}}'), "prompts[1]")
    assert_field_error(post_raw(api, "/api/generate/", f'{{{SURROGATE}: 1, "prompt": "x"}}'), "bad \\ud800 text")


def test_nul_in_query_strings_and_page_forms_is_refused(client, owner):
    response = Client().get("/api/search/", {"q": "red", "tag": "a\x00b"})
    assert_field_error(response, "tag")
    client.force_login(owner)
    response = client.post("/collections/", {"name": "evil\x00name"})
    assert response.status_code == 400 and b"NUL" in response.content


# -- out-of-range and non-finite numbers --------------------------------------------------------
@pytest.mark.parametrize("query", ["limit=-1", "offset=1e20", "limit=1e23", "offset=-5", "limit=0"])
def test_generation_list_paging_is_checked(api, query):
    response = api.get(f"/api/generations/?{query}")
    assert_field_error(response, query.split("=")[0])


@pytest.mark.parametrize("query", ["limit=1e23", "limit=100000", "offset=99999999999999999999", "limit=-1"])
def test_photo_list_paging_is_checked(api, query):
    assert_field_error(api.get(f"/api/photos/?{query}"), query.split("=")[0])


def test_suggestions_offset_out_of_range(api, collection):
    response = api.get(f"/api/collections/{collection.pk}/suggestions/?offset=99999999999999999999")
    assert_field_error(response, "offset")


def test_huge_ids_and_infinite_numbers_in_bodies(api, collection, generation):
    big = 2**70
    assert_field_error(post_raw(api, f"/api/collections/{collection.pk}/decisions/",
                                json.dumps({"ids": [big], "state": "accepted"})), "ids[0]")
    save = f"/api/generations/{generation.pk}/save/"
    assert_field_error(post_raw(api, save, json.dumps({"collection": collection.pk, "candidates": [big]})), "candidates[0]")
    assert_field_error(post_raw(api, save, f'{{"collection": {collection.pk}, "candidates": 1e400}}'), "candidates")
    assert_field_error(post_raw(api, save, json.dumps({"collection": big, "candidates": [0]})), "collection")
    assert_field_error(post_raw(api, "/api/generate/", '{"prompt": "x", "temperature": 1e400}'), "temperature")


def test_ids_within_64_bits_but_unknown_are_not_a_server_error(api, collection):
    response = post_raw(api, f"/api/collections/{collection.pk}/decisions/", json.dumps({"ids": [2**62 + 1], "state": "accepted"}))
    assert_field_error(response, "ids")


# -- prompt templates ---------------------------------------------------------------------------
@pytest.mark.parametrize("template", ["x {} {0}", "{0}", "{}{}", "{:>999999999}", "a {} {", "{!r}"])
def test_templates_must_format_with_exactly_one_blank(api, collection, template):
    response = post_raw(api, "/api/vocabularies/", json.dumps(
        {"collection": collection.pk, "name": "v", "templates": [template], "tags": ["cat"]}))
    assert_field_error(response, "templates")
    assert not Vocabulary.objects.filter(name="v").exists()


def test_valid_templates_still_accepted(api, collection):
    response = post_raw(api, "/api/vocabularies/", json.dumps(
        {"collection": collection.pk, "name": "v", "templates": ["a photo of a {}.", "{{braces}} and {}"], "tags": ["cat"]}))
    assert response.status_code == 201, response.content


# -- malformed bodies and unknown paths ---------------------------------------------------------
@pytest.mark.parametrize("body,content_type", [
    (b"garbage", "multipart/form-data"),
    (b"x", "multipart/form-data; boundary="),
    (b'{"prompt": ', "application/json"),
])
def test_malformed_bodies_get_a_json_400_with_a_reason(api, collection, body, content_type):
    response = api.post(f"/api/collections/{collection.pk}/photos/", data=body, content_type=content_type)
    assert response.status_code in (400, 415)
    assert response.json()["error"]


def test_malformed_multipart_on_a_page_is_a_400_not_a_500(client, owner):
    client.force_login(owner)
    response = client.post("/collections/", data=b"x", content_type="multipart/form-data; boundary=")
    assert response.status_code == 400


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_paths_answer_json_404_in_every_mode(db, settings, debug):
    settings.DEBUG = debug
    for path in ("/api/nope/", "/api/photos/1/nope/", "/api/collections/1/nope/", "/api/nope"):
        response = Client().get(path)
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/json") and response.json()["error"]


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_pages_show_ateliers_own_404(db, settings, debug):
    settings.DEBUG = debug
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    assert b'id="not-found"' in response.content
    assert b"URLconf" not in response.content  # Django's debug page lists every URL pattern


# -- websocket ----------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_websocket_answers_bad_messages_with_an_error_frame_and_stays_open(make_user):
    import asyncio

    from tests.platform.test_websocket import communicator_for

    async def scenario():
        comm = communicator_for(await asyncio.to_thread(make_user, "wanda"))
        connected, _ = await comm.connect(timeout=5)
        assert connected
        assert (await comm.receive_json_from(timeout=5))["type"] == "snapshot"
        for bad in ("{not json", '"\\ud800"', "[1, 2]", '{"type": "nope"}'):
            await comm.send_to(text_data=bad)
            frame = await comm.receive_json_from(timeout=5)
            assert frame["type"] == "error" and frame["error"], (bad, frame)
        await comm.send_to(bytes_data=b"\x00\x01")
        assert (await comm.receive_json_from(timeout=5))["type"] == "error"
        await comm.send_json_to({"type": "sync"})  # still open and serving
        assert (await comm.receive_json_from(timeout=5))["type"] == "snapshot"
        await comm.disconnect()

    asyncio.run(scenario())


def test_missing_required_fields_are_field_errors(api, collection, vocabulary):
    """Found by the fuzz test: a body without `name` used to reach the service as a TypeError (500)."""
    assert_field_error(api.post("/api/vocabularies/", {"mode": "single"}), "name")
    assert_field_error(post_raw(api, f"/api/vocabularies/{vocabulary.pk}/tags/", "{}"), "name")
