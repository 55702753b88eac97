"""Tombstones: photos whose embedding left the database since the served index snapshot was built.

Snapshots are immutable and shared by every process, so a deletion cannot be applied to them;
instead each deleted embedding leaves a row here (written by a signal in the same transaction),
every process reads the rows above its cursor on refresh and hides those ids before results
are returned, and the next snapshot build folds them in and prunes the old rows.
"""
from django.db import models


class Tombstone(models.Model):
    photo_id = models.BigIntegerField()
    model_id = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["model_id", "id"])]
