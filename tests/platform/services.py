"""Real service processes for tests: Celery workers against the test database and Redis."""
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import missing_service

REPO = Path(__file__).resolve().parents[2]


def require_services():
    if connection.vendor != "postgresql":
        missing_service("DATABASE_URL does not point at PostgreSQL")
    url = os.environ.get("REDIS_URL")
    if not url:
        missing_service("REDIS_URL is not set")
    import redis

    try:
        redis.Redis.from_url(url, socket_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        missing_service(f"Redis at {url} does not answer: {exc}")
    return url


def database_url() -> str:
    d = connection.settings_dict
    return f"postgres://{d['USER']}:{d['PASSWORD']}@{d['HOST'] or '127.0.0.1'}:{d['PORT'] or 5432}/{d['NAME']}"


class Worker:
    """A `celery worker` process (prefork, one child) in its own process group."""

    def __init__(self, log_dir: Path, **env):
        self.log = log_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
        self.env = {**os.environ, "DATABASE_URL": database_url(), "MEDIA_ROOT": str(settings.MEDIA_ROOT),
                    "PYTHONPATH": f"{REPO / 'platform'}:{REPO}", "ATELIER_TASKS_MODE": "celery", **env}
        self.proc = None

    def start(self, timeout: float = 60) -> "Worker":
        name = f"test-{uuid.uuid4().hex[:8]}@%h"
        cmd = [sys.executable, "-m", "celery", "-A", "atelier.celery_app", "worker", "-Q", "gpu,io", "-c", "1",
               "--pool", "prefork", "-n", name, "--without-gossip", "--without-mingle", "-l", "info"]
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready." in self.log.read_text(errors="replace"):
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"worker did not start:\n{self.log.read_text(errors='replace')[-3000:]}")

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@pytest.fixture
def workers(tmp_path, settings):
    redis_url = require_services()
    import redis

    redis.Redis.from_url(redis_url).flushdb()  # no task left over from another test
    settings.TASKS_MODE = "celery"
    started: list[Worker] = []

    def start(**env) -> Worker:
        worker = Worker(tmp_path, **env).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


class WebServer:
    """Daphne serving the ASGI app (HTTP + websockets) against the test database."""

    def __init__(self, log_dir: Path, **env):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / "daphne.log"
        self.env = {**os.environ, "DATABASE_URL": database_url(), "MEDIA_ROOT": str(settings.MEDIA_ROOT),
                    "PYTHONPATH": f"{REPO / 'platform'}:{REPO}", **env}

    def start(self, timeout: float = 60) -> "WebServer":
        import urllib.request

        cmd = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "atelier.asgi:application"]
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/login/", timeout=2)
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.3)
        raise AssertionError(f"daphne did not start:\n{self.log.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)


@pytest.fixture
def web_server(tmp_path, settings):
    """A real ASGI server; tasks run in its in-process worker threads (one process to manage)."""
    require_services()
    server = WebServer(tmp_path, ATELIER_TASKS_MODE="thread").start()
    yield server
    server.stop()


@pytest.fixture
def browser():
    path = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
    if not Path(path).exists():
        missing_service(f"no Chromium at {path} (set CHROMIUM_PATH)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=path, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        yield CspBypassingBrowser(chromium)
        chromium.close()


class CspBypassingBrowser:
    """Playwright's string predicates (wait_for_function) are evaluated with eval(), which Atelier's
    Content-Security-Policy forbids: flow tests open pages with the policy bypassed by default;
    tests/frontend/test_csp_browser.py opens them with bypass_csp=False and watches for violations."""

    def __init__(self, chromium):
        self._chromium = chromium

    def new_page(self, **kwargs):
        return self._chromium.new_page(**{"bypass_csp": True, **kwargs})

    def new_context(self, **kwargs):
        return self._chromium.new_context(**{"bypass_csp": True, **kwargs})

    def __getattr__(self, name):
        return getattr(self._chromium, name)


def log_in(page, base_url: str, username: str, password: str = "s3cret-pass") -> None:
    """Signs in through the real login form and waits for the collections page."""
    page.set_default_timeout(20_000)
    page.goto(base_url + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/collections/")
