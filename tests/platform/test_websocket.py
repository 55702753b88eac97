"""Websocket `/ws/jobs/`: only signed-in users, only their own jobs, a snapshot on every connect."""
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from atelier.asgi import application
from atelier.jobs import services

pytestmark = pytest.mark.django_db(transaction=True)


def communicator_for(user):
    from django.contrib.auth.models import AnonymousUser

    comm = WebsocketCommunicator(application, "/ws/jobs/", headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")])
    comm.scope["user"] = user or AnonymousUser()
    return comm


async def _connect(user):
    comm = communicator_for(user)
    connected, code = await comm.connect(timeout=5)
    return comm, connected, code


def run(coro):
    import asyncio

    return asyncio.run(coro)


def test_anonymous_socket_is_refused(db):
    async def scenario():
        comm, connected, code = await _connect(None)
        assert not connected and code == 4401

    run(scenario())


def test_owner_gets_snapshot_then_live_updates_and_others_get_nothing(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    job = services.create_job(owner=alice, kind="demo", total=10)

    async def scenario():
        a, ok_a, _ = await _connect(alice)
        b, ok_b, _ = await _connect(bob)
        assert ok_a and ok_b
        snap_a, snap_b = await a.receive_json_from(timeout=5), await b.receive_json_from(timeout=5)
        assert snap_a["type"] == "snapshot" and [j["id"] for j in snap_a["jobs"]] == [job.pk]
        assert snap_b == {"type": "snapshot", "jobs": []}
        await sync_to_async(services.do_set_progress)(job_id=job.pk, done=4, message="halfway")
        update = await a.receive_json_from(timeout=5)
        assert update["type"] == "job" and update["job"]["done"] == 4 and update["job"]["message"] == "halfway"
        assert await b.receive_nothing(timeout=0.3)
        # A page that missed messages asks again and gets the rows' truth.
        await sync_to_async(services.do_finish_job)(job_id=job.pk)
        await a.receive_json_from(timeout=5)
        await a.send_json_to({"type": "sync"})
        resync = await a.receive_json_from(timeout=5)
        assert resync["type"] == "snapshot" and resync["jobs"][0]["state"] == "succeeded"
        await a.disconnect()
        await b.disconnect()

    run(scenario())


def test_reconnecting_page_sees_true_state(make_user):
    alice = make_user("alice")
    job = services.create_job(owner=alice, kind="demo", total=3)

    async def scenario():
        first, _, _ = await _connect(alice)
        await first.receive_json_from(timeout=5)
        await first.disconnect()
        # Progress happens while the page has no socket: those messages are lost.
        await sync_to_async(services.do_set_progress)(job_id=job.pk, done=3)
        await sync_to_async(services.do_finish_job)(job_id=job.pk)
        second, _, _ = await _connect(alice)
        snap = await second.receive_json_from(timeout=5)
        assert snap["jobs"][0]["done"] == 3 and snap["jobs"][0]["state"] == "succeeded"
        await second.disconnect()

    run(scenario())


@pytest.mark.services
def test_an_idle_socket_on_the_redis_layer_stays_open_and_gets_later_updates(make_user, settings):
    """channels_redis blocks 5 s per wait for a message: a shorter Redis read timeout killed idle consumers."""
    import asyncio

    if "Redis" not in settings.CHANNEL_LAYERS["default"]["BACKEND"]:
        pytest.skip("the Redis channel layer is not configured (REDIS_URL unset)")
    alice = make_user("alice")
    job = services.create_job(owner=alice, kind="demo", total=2)

    async def scenario():
        socket, connected, _ = await _connect(alice)
        assert connected
        await socket.receive_json_from(timeout=5)   # the snapshot
        await asyncio.sleep(7)                     # longer than one blocking wait
        await sync_to_async(services.do_set_progress)(job_id=job.pk, done=1, message="after a quiet spell")
        update = await socket.receive_json_from(timeout=5)
        assert update["job"]["message"] == "after a quiet spell"
        await socket.disconnect()

    run(scenario())
