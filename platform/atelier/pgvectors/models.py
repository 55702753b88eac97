"""Embeddings kept in PostgreSQL with pgvector (ATELIER_VECTOR_STORE=pgvector).

One table for every model: ``embedding`` is an untyped ``halfvec`` (fp16, what PhotoEmbedding
stores too) and each (model, dimension) gets its own partial HNSW expression index created by
the store (``embedding::halfvec(512) halfvec_cosine_ops WHERE model_id = ...``), pgvector's
recommended layout for several dimensions in one table. Rows go with their photo (cascade).
"""
from django.db import models
from pgvector.django import HalfVectorField


class PhotoVector(models.Model):
    photo = models.ForeignKey("library.Photo", on_delete=models.CASCADE, related_name="+", db_index=False)
    model_id = models.CharField(max_length=300)
    embedding = HalfVectorField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["photo", "model_id"], name="one_vector_per_model")]


class SyncState(models.Model):
    """The highest PhotoEmbedding id copied into PhotoVector, per model (rows above it are copied next)."""

    model_id = models.CharField(max_length=300, unique=True)
    watermark = models.BigIntegerField(default=0)
