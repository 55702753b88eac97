"""Push job updates to their owner's open pages, after the transaction commits.

Delivery is at most once (Channels): pages treat messages as hints and re-read the Job rows when
their socket reconnects.
"""
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"jobs.user.{user_id}"


def send_job_event_on_commit(job, *, detail: dict | None = None) -> None:
    """`detail` (JSON) goes with this hint only, as the job's "detail" key: the owner's pages get it."""
    event = job.as_event() if detail is None else {**job.as_event(), "detail": detail}
    payload = {"type": "job.update", "job": event}
    group = user_group(job.owner_id)
    transaction.on_commit(lambda: _send(group, payload))


def _send(group: str, payload: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, payload)
    except Exception:  # a lost hint is fine: the row holds the truth
        log.warning("could not push job event to %s", group, exc_info=True)
