"""A near-duplicate scan of a collection: its job's progress, its partial state, its stored result."""
from django.db import models


class NearDupScan(models.Model):
    collection = models.ForeignKey("library.Collection", on_delete=models.CASCADE, related_name="neardup_scans")
    job = models.OneToOneField("jobs.Job", on_delete=models.CASCADE, related_name="neardup_scan")
    threshold = models.FloatField()
    model_id = models.CharField(max_length=200)
    photo_ids = models.JSONField(default=list)   # the photos scanned: fixed when the scan starts
    parent = models.JSONField(default=dict)      # union-find so far ("photo id" -> photo id); emptied at the end
    next_row = models.PositiveIntegerField(default=0)
    groups = models.JSONField(null=True, blank=True)  # [[photo id, ...], ...] largest first, once finished
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"NearDupScan {self.pk} of collection {self.collection_id} at {self.threshold}"
