"""A generation request, its candidates (scored by CLIP), and the provenance of saved images.

The request's row is the truth for the studio: its Job carries state and progress, candidates are
rows (small PNGs) written as they are sampled, so a reloaded page shows exactly what exists.
"""
from django.conf import settings
from django.db import models


class Generation(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations")
    job = models.OneToOneField("jobs.Job", on_delete=models.CASCADE, related_name="generation")
    prompt = models.CharField(max_length=1000)
    backend = models.CharField(max_length=64)
    model_version = models.CharField(max_length=200, blank=True)   # filled when sampling starts
    clip_model = models.CharField(max_length=200, blank=True)      # the reranker's model id
    candidates = models.PositiveIntegerField()
    keep = models.PositiveIntegerField()
    seed = models.BigIntegerField()
    temperature = models.FloatField(default=1.0)
    top_k = models.PositiveIntegerField(null=True, blank=True)
    top_p = models.FloatField(null=True, blank=True)
    batch = models.CharField(max_length=64, blank=True)            # requests sent together share a label
    # Only dispatched generations hold a place on the gpu queue; the rest wait in the user's queue.
    dispatched = models.BooleanField(default=False, db_index=True)
    ranked = models.BooleanField(default=False)                    # top `keep` chosen
    sample_seconds = models.FloatField(default=0.0)
    rerank_seconds = models.FloatField(default=0.0)
    preview_png = models.BinaryField(null=True, blank=True)        # rows sampled so far of the batch in flight
    preview_first = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return f"Generation {self.pk}: {self.prompt[:40]!r} ×{self.candidates}"

    def settings_dict(self) -> dict:
        """Everything needed to reproduce the request (what the studio's 'restore' fills in)."""
        return {"prompt": self.prompt, "backend": self.backend, "candidates": self.candidates, "keep": self.keep,
                "seed": self.seed, "temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p}


class Candidate(models.Model):
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="candidate_set")
    index = models.PositiveIntegerField()          # i-th candidate of (prompt, seed, settings)
    seed = models.BigIntegerField()                # the candidate's own seed (backend-defined)
    png = models.BinaryField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    score = models.FloatField()                    # CLIP cosine to the prompt
    # what the reranker orders by: the score of the CLIP profile's ranking for this backend
    # (ml_core.rerank); null where that ranking is the cosine itself (ordered by `score`)
    rank_score = models.FloatField(null=True, blank=True)
    rank = models.PositiveIntegerField(null=True, blank=True)  # 1..keep once ranked, else null

    class Meta:
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["generation", "index"], name="unique_candidate_index")]


class Provenance(models.Model):
    """Where a saved photo came from; kept even if the generation is deleted later."""
    photo = models.OneToOneField("library.Photo", on_delete=models.CASCADE, related_name="provenance")
    generation = models.ForeignKey(Generation, null=True, blank=True, on_delete=models.SET_NULL, related_name="saved")
    candidate_index = models.PositiveIntegerField()
    prompt = models.CharField(max_length=1000)
    backend = models.CharField(max_length=64)
    model_version = models.CharField(max_length=200)
    seed = models.BigIntegerField()
    candidate_seed = models.BigIntegerField()
    settings = models.JSONField(default=dict)
    clip_model = models.CharField(max_length=200)
    clip_score = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)
