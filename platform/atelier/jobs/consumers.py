"""Websocket `/ws/jobs/`: a signed-in user's job updates, and a fresh snapshot on (re)connect."""
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from atelier.jobs.events import user_group
from atelier.jobs.selectors import recent_jobs_for


class JobsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_snapshot()

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        """A bad message gets an error frame and the socket stays open (never a 1011 close)."""
        if text_data is None:
            await self.send_error("send text frames holding JSON objects")
            return
        try:
            content = await self.decode_json(text_data)
        except ValueError:  # json.JSONDecodeError, and UnicodeError on lone surrogates
            await self.send_error("invalid JSON")
            return
        await self.receive_json(content, **kwargs)

    async def receive_json(self, content, **kwargs):
        # Pages ask again after a gap (e.g. a sleeping laptop): the rows are the truth.
        if isinstance(content, dict) and content.get("type") == "sync":
            await self.send_snapshot()
        else:
            await self.send_error('unknown message: the only one is {"type": "sync"}')

    async def send_error(self, message: str):
        await self.send_json({"type": "error", "error": message})

    async def send_snapshot(self):
        jobs = await database_sync_to_async(lambda: [j.as_event() for j in recent_jobs_for(self.scope["user"])])()
        await self.send_json({"type": "snapshot", "jobs": jobs})

    async def job_update(self, event):
        await self.send_json({"type": "job", "job": event["job"]})
