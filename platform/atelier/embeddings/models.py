"""CLIP embeddings of photos: the source of truth every search index is rebuilt from.

One row per (photo, model): a change of model never mixes embedding spaces, it adds rows for the
new model. A photo that could not be embedded has a row with its `error` and no vector.
"""
import numpy as np
from django.db import models


class PhotoEmbedding(models.Model):
    photo = models.ForeignKey("library.Photo", on_delete=models.CASCADE, related_name="embeddings")
    model_id = models.CharField(max_length=300, db_index=True)
    dim = models.PositiveIntegerField(default=0)
    # float16 little-endian bytes: half the size of float32, well inside CLIP's own precision.
    vector = models.BinaryField(null=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["photo", "model_id"], name="one_embedding_per_model")]

    @staticmethod
    def pack(vector: np.ndarray) -> bytes:
        return np.asarray(vector, dtype="<f2").tobytes()

    def as_array(self) -> np.ndarray:
        return np.frombuffer(bytes(self.vector), dtype="<f2").astype(np.float32)
