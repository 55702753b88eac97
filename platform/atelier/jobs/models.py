"""A Job is every long operation: the row is the truth, websocket messages are only hints."""
from django.conf import settings
from django.db import models


class Job(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED = (State.SUCCEEDED, State.FAILED, State.CANCELLED)

    kind = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED, db_index=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    collection = models.ForeignKey("library.Collection", null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")
    params = models.JSONField(default=dict, blank=True)
    # Deliveries since the last chunk that finished: a task that keeps crashing its worker
    # (never reaching our error handler) is still stopped after ATELIER_TASK_MAX_RETRIES.
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return f"Job {self.pk} {self.kind} {self.state} {self.done}/{self.total}"

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED

    def as_event(self) -> dict:
        """The JSON shape pushed over websockets and returned by the API."""
        return {
            "id": self.pk,
            "kind": self.kind,
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "message": self.message,
            "error": self.error,
            "collection": self.collection_id,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


class JobShard(models.Model):
    """One id range (lo, hi] of a sharded job, worked on by one lane at a time.

    `cursor` is the last id finished: it is committed with the work it stands for, so a lane that
    takes the shard over after a crash starts exactly where the last commit left off. `lane` and
    `lease_until` say who works on it: a redelivered message of the same lane takes it back at once,
    any other lane only once the lease has run out. `data` holds what a job keeps per shard (e.g.
    tagging's per-tag statistics).
    """
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="shards")
    phase = models.PositiveSmallIntegerField(default=0)
    lo = models.BigIntegerField()  # exclusive
    hi = models.BigIntegerField()  # inclusive
    cursor = models.BigIntegerField()
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    finished = models.BooleanField(default=False)
    lane = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["job", "phase", "lo"]
        constraints = [models.UniqueConstraint(fields=["job", "phase", "lo"], name="one_shard_per_range")]
        indexes = [models.Index(fields=["job", "phase", "finished"])]

    def __str__(self) -> str:
        return f"JobShard {self.job_id}/{self.phase} ({self.lo}, {self.hi}] at {self.cursor}"
