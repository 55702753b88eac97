"""Vocabularies (per collection, or global and staff-made), their tags, and tags on photos."""
from django.conf import settings
from django.db import models


class Vocabulary(models.Model):
    class Mode(models.TextChoices):
        EXCLUSIVE = "exclusive", "Exclusive: at most one tag per photo (softmax over the vocabulary)"
        MULTI = "multi", "Multi-label: every tag above its threshold"

    collection = models.ForeignKey("library.Collection", null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="vocabularies")  # null: global, made by staff
    name = models.CharField(max_length=100)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.MULTI)
    templates = models.JSONField(default=list, blank=True)  # [] = the default template set
    min_probability = models.FloatField(default=0.5)  # exclusive mode: suggest only when p >= this
    version = models.PositiveIntegerField(default=1)  # bumped on every change of text or templates
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["collection", "name"], name="unique_vocabulary_name")]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    vocabulary = models.ForeignKey(Vocabulary, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=100)
    synonyms = models.JSONField(default=list, blank=True)
    threshold = models.FloatField(null=True, blank=True)  # set by a person: cosine cutoff (multi mode)
    version = models.PositiveIntegerField(default=1)  # bumped when its text (or the templates) change

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["vocabulary", "name"], name="unique_tag_name")]

    def __str__(self) -> str:
        return self.name


class TagScoring(models.Model):
    """Which version of a tag was last scored over a collection (so only what changed is re-scored)."""
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="scorings")
    collection = models.ForeignKey("library.Collection", on_delete=models.CASCADE, related_name="+")
    version = models.PositiveIntegerField()
    model_id = models.CharField(max_length=300)
    cutoff = models.FloatField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tag", "collection"], name="one_scoring_per_tag_collection")]


class LearnedThreshold(models.Model):
    """A tag's cutoff calibrated (max F1) on the decisions made in one collection. It belongs to that
    collection: reviews of a global tag in one collection never move its cutoff in another."""
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="learned_thresholds")
    collection = models.ForeignKey("library.Collection", on_delete=models.CASCADE, related_name="+")
    value = models.FloatField()
    examples = models.PositiveIntegerField()  # decided photos it was calibrated on
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tag", "collection"], name="one_learned_threshold_per_tag_collection")]


class PhotoTag(models.Model):
    class Source(models.TextChoices):
        ZERO_SHOT = "zero-shot"
        PERSON = "person"

    class State(models.TextChoices):
        SUGGESTED = "suggested"
        ACCEPTED = "accepted"
        REJECTED = "rejected"

    photo = models.ForeignKey("library.Photo", on_delete=models.CASCADE, related_name="phototags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="phototags")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ZERO_SHOT)
    confidence = models.FloatField(null=True)  # cosine (multi) or probability (exclusive)
    margin = models.FloatField(null=True)  # confidence - cutoff: near 0 = uncertain
    state = models.CharField(max_length=10, choices=State.choices, default=State.SUGGESTED, db_index=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["photo", "tag"], name="one_phototag")]
        indexes = [models.Index(fields=["tag", "state"])]


class TagRanking(models.Model):
    """A tagging job's first pass over one vocabulary: the `cap` best (photo embedding, confidence)
    pairs of each tag found so far (ml_core's TopPairs, as bytes), merged in by every step of every
    worker. The second pass writes what it holds; it goes when the job has written it."""
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="+")
    phase = models.PositiveSmallIntegerField()
    tags = models.PositiveIntegerField()
    cap = models.PositiveIntegerField()
    pairs = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "phase"], name="one_ranking_per_job_phase")]
