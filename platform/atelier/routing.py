"""Websocket routes."""
from django.urls import path

from atelier.jobs.consumers import JobsConsumer

websocket_urlpatterns = [path("ws/jobs/", JobsConsumer.as_asgi())]
