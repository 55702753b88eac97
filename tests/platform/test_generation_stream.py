"""A generation reaches the owner's open pages batch by batch: a real Celery worker samples it while
the CPU is kept busy, and the page's websocket (/ws/jobs/, over the Redis channel layer) receives
each scored batch with its candidates before the job ends, not one final write."""
import asyncio
import subprocess
import sys
from contextlib import contextmanager

import pytest
from asgiref.sync import sync_to_async

from plugins.generation.models import Candidate
from tests.platform.services import workers  # noqa: F401  (fixture)
from tests.platform.test_websocket import communicator_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
FINISHED = ("succeeded", "failed", "cancelled")


@contextmanager
def busy_cpu(processes: int = 2):
    """Spinning processes on every core of the CI machine, as when other work shares it."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait(10)


async def job_events(user, start) -> list[dict]:
    """The owner's socket from before `start()` until its generation's job ends: that job's events."""
    socket = communicator_for(user)
    connected, _ = await socket.connect(timeout=10)
    assert connected
    assert (await socket.receive_json_from(timeout=10))["type"] == "snapshot"
    generation = await sync_to_async(start)()
    events = []
    try:
        while not events or events[-1]["state"] not in FINISHED:
            message = await socket.receive_json_from(timeout=300)
            if message["type"] == "job" and message["job"]["id"] == generation.job_id:
                events.append(message["job"])
    finally:
        await socket.disconnect()
    return generation, events


def test_each_scored_batch_reaches_the_page_with_its_candidates_before_the_end(workers, owner):
    from plugins.generation import services as generation

    # The product's sampling defaults: 6 candidates come in 3 batches of 2 (stream_batches=4). One
    # torch thread: two spinning threads beside the busy processes only made sampling slower.
    workers(ATELIER_TORCH_THREADS="1")
    request = generation.parse_request({"prompt": "a red circle", "candidates": 6, "keep": 2, "seed": 7})
    with busy_cpu():
        started, events = asyncio.run(job_events(owner, lambda: generation.start_generation(user=owner, request=request)))

    assert events[-1]["state"] == "succeeded", events[-1]
    batches = [e for e in events if e.get("detail")]
    assert len(batches) >= 2, [(e["state"], e["done"], e["message"]) for e in events]
    seen = []
    for event in batches:
        indices = [c["index"] for c in event["detail"]["candidates"]]
        assert event["detail"]["generation"] == started.pk
        assert event["state"] == "running"                       # before the job completes
        assert indices == list(range(len(seen), len(seen) + len(indices)))   # the next batch, in order
        seen += indices
        assert event["done"] == len(seen)                        # sent after its batch was stored
    assert seen == list(range(6))                                # every candidate once
    assert events.index(batches[-1]) < len(events) - 1           # the end is its own, later event
    stored = {c.index: c.score for c in Candidate.objects.filter(generation_id=started.pk)}
    pushed = {c["index"]: c["score"] for e in batches for c in e["detail"]["candidates"]}
    assert pushed == {i: round(s, 4) for i, s in stored.items()}   # what the page shows is what was stored
