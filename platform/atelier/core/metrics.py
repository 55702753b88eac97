"""Prometheus metrics at `/metrics`: request latency (this process), and from the shared state at
scrape time, so every web process reports the same: queue depths, jobs by kind and state (failures
included), job durations, and the search index's age."""
from __future__ import annotations

import time

from django.conf import settings
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily, SummaryMetricFamily

REGISTRY = CollectorRegistry()
REQUEST_SECONDS = Histogram("atelier_http_request_seconds", "Time to answer an HTTP request",
                            ["method", "status"], registry=REGISTRY)
QUEUES = ("gpu", "io")


def metrics_middleware(get_response):
    def middleware(request):
        started = time.perf_counter()
        response = get_response(request)
        REQUEST_SECONDS.labels(request.method, str(response.status_code)).observe(time.perf_counter() - started)
        return response

    return middleware


def queue_depths() -> dict[str, int]:
    if settings.TASKS_MODE == "celery":
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1)
        return {q: int(client.llen(q)) for q in QUEUES}
    from atelier.jobs.dispatch import ThreadWorker

    return {q: len(w._heap) for q, w in ThreadWorker._workers.items()}


def job_durations():
    """(kind, count, seconds) of finished jobs, summed in the database."""
    from django.db.models import Count, DurationField, ExpressionWrapper, F, Sum

    from atelier.jobs.models import Job

    took = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    rows = (Job.objects.filter(finished_at__isnull=False, started_at__isnull=False).values("kind")
            .annotate(n=Count("id"), total=Sum(took)).order_by())
    return [(r["kind"], r["n"], r["total"].total_seconds() if r["total"] else 0.0) for r in rows]


def index_age_seconds() -> dict[str, float]:
    """{model id: age of the published search index snapshot} (search.indexing.index_status)."""
    from atelier.embeddings.services import model_status
    from atelier.search.indexing import index_status

    status = model_status()
    if not status.ready:
        return {}
    age = index_status(status.model_id).get("age_s")
    return {status.model_id: float(age)} if age is not None else {}


class AtelierCollector:
    def collect(self):
        from django.db.models import Count

        from atelier.jobs.models import Job

        depth = GaugeMetricFamily("atelier_queue_depth", "Tasks waiting in a queue", labels=["queue"])
        try:
            for queue, n in queue_depths().items():
                depth.add_metric([queue], n)
        except Exception:  # noqa: BLE001 - a broker that does not answer shows as no samples
            pass
        yield depth
        jobs = GaugeMetricFamily("atelier_jobs", "Jobs by kind and state (failed = failures)", labels=["kind", "state"])
        for row in Job.objects.values("kind", "state").annotate(n=Count("id")).order_by():
            jobs.add_metric([row["kind"], row["state"]], row["n"])
        yield jobs
        durations = SummaryMetricFamily("atelier_job_duration_seconds", "Run time of finished jobs", labels=["kind"])
        for kind, n, seconds in job_durations():
            durations.add_metric([kind], count_value=n, sum_value=seconds)
        yield durations
        age = GaugeMetricFamily("atelier_search_index_age_seconds", "Age of the saved search index", labels=["model"])
        for model_id, seconds in index_age_seconds().items():
            age.add_metric([model_id], seconds)
        yield age


REGISTRY.register(AtelierCollector())
