"""The embedded default (`make demo`): SQLite, in-process worker, in-memory channel layer, one process."""
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.helpers import image_bytes

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def call(url, *, token=None, data=None, headers=None, method=None):
    req = urllib.request.Request(url, data=data, method=method, headers={**(headers or {}), **({"Authorization": f"Token {token}"} if token else {})})
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.loads(res.read())


def wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"timed out: {what}")


@pytest.fixture
def demo_server(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "MEDIA_ROOT", "ATELIER_TASKS_MODE")}
    env.update({"ATELIER_MODE": "demo", "ATELIER_VAR_DIR": str(tmp_path / "var"), "PYTHONUNBUFFERED": "1"})
    log = tmp_path / "demo.log"
    proc = subprocess.Popen([sys.executable, "manage.py", "demo", "--port", str(port), "--scenes", "16"], cwd=REPO, env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait(lambda: call(base + "/healthz")["ok"], 120, f"demo server to start:\n{log.read_text(errors='replace')[-2000:] if log.exists() else ''}")
        yield base, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


def test_demo_runs_embedded_with_user_collection_and_in_process_worker(demo_server):
    base, log = demo_server
    assert "log in as `demo` / password `demo`" in log.read_text()
    health = call(base + "/healthz")
    assert health["database"]["engine"] == "sqlite"
    assert health["broker"]["mode"] == "thread" and health["channel_layer"]["backend"] == "InMemoryChannelLayer"
    token = call(base + "/api/auth/token/", data=json.dumps({"username": "demo", "password": "demo"}).encode(),
                 headers={"Content-Type": "application/json"})["token"]
    collections = call(base + "/api/collections/", token=token)
    demo = next(c for c in collections if c["name"] == "Demo scenes")
    assert demo["photo_count"] == 16
    # Processed on first start by the in-process worker.
    wait(lambda: all(p["thumbs_ready"] for p in call(base + f"/api/photos/?collection={demo['id']}&limit=100", token=token)["results"]), 60, "thumbnails")
    photos = call(base + f"/api/photos/?collection={demo['id']}&limit=100", token=token)["results"]
    assert all(p["caption"] for p in photos), "scenes come with their captions"

    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"new.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + image_bytes("PNG", color=(5, 6, 7)) + f"\r\n--{boundary}--\r\n".encode()
    report = call(base + f"/api/collections/{demo['id']}/photos/", token=token, data=body,
                  headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert len(report["created"]) == 1 and report["job"]
    job = wait(lambda: (j := call(base + f"/api/jobs/{report['job']}/", token=token))["state"] == "succeeded" and j, 30, "upload job")
    assert job["done"] == job["total"] == 1
