"""Issue 18: schemathesis over /api/schema/, as a signed-in normal user on seeded data. Every
operation, valid and invalid inputs (a few examples each, to stay fast in CI): no server error, and
every answer conforms to the schema (status code listed, content type, body shape)."""
import os
import time

import pytest
from hypothesis import HealthCheck, Phase, given, settings as hyp_settings
from hypothesis.errors import Unsatisfiable

import schemathesis
from knox.models import AuthToken
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)
from tests.helpers import image_bytes

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # ~1 min alone; more on a busy machine

EXAMPLES = int(os.environ.get("ATELIER_FUZZ_EXAMPLES", 12))  # per operation and mode
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def seeded(make_user, collection, owner):
    """A collection with a photo, a vocabulary with a suggestion, a job and a generation."""
    from atelier.jobs.services import create_job
    from atelier.library.ingest import do_ingest_files
    from atelier.tagging.models import PhotoTag, Tag, Vocabulary
    from plugins.generation.models import Candidate, Generation

    import io
    report = do_ingest_files(collection=collection, user=owner, files=[("red.png", io.BytesIO(image_bytes("PNG")))])
    photo_id = report.created[0]["id"]
    vocabulary = Vocabulary.objects.create(collection=collection, name="things")
    tag = Tag.objects.create(vocabulary=vocabulary, name="red")
    PhotoTag.objects.create(photo_id=photo_id, tag=tag, source="model", state="suggested", confidence=0.5, margin=0.1)
    job = create_job(owner=owner, kind="generate")
    generation = Generation.objects.create(owner=owner, job=job, prompt="red circle", backend="dalle",
                                           candidates=2, keep=1, seed=1, ranked=True)
    Candidate.objects.create(generation=generation, index=0, seed=1, png=image_bytes("PNG"), width=64, height=48,
                             score=0.3, rank=1)
    return owner


@pytest.fixture
def connection_kept_between_requests():
    """The WSGI handler closes the database connection after each request; the test's transaction
    lives on that connection, so keep it open as Django's own test client does."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_api_conforms_to_its_schema_under_fuzzing(seeded, settings, connection_kept_between_requests):
    from atelier.wsgi import application

    settings.DEBUG = False
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    failures, started, operations = [], time.monotonic(), 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @hyp_settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            def fuzz(case):
                # A fresh token per case: the fuzzer also calls logout and revoke, which end tokens.
                token = AuthToken.objects.create(user=seeded)[1]
                case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)

            try:
                fuzz()
            except Unsatisfiable:  # no parameter or body to make invalid
                assert mode == GenerationMode.NEGATIVE
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every failure, then report
                failures.append(f"{operation.label} [{mode.value}]: {str(exc)[:6000]}")
    took = time.monotonic() - started
    print(f"schemathesis: {operations} operations, {took:.1f} s")
    assert operations >= 30
    assert not failures, "\n\n".join(failures)
