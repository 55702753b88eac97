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
        return unpack_vectors([self.vector])[0].astype(np.float32)


def unpack_vectors(blobs) -> np.ndarray:
    """The stored `vector` bytes of several rows (same model, so the same size) as one float16 array
    [n, D]: joined once and viewed, no array per row. Callers convert to float32 where they compute."""
    blobs = list(blobs)  # bytes or memoryviews: join takes both without copying each
    if not blobs:
        return np.zeros((0, 0), dtype="<f2")
    return np.frombuffer(b"".join(blobs), dtype="<f2").reshape(len(blobs), -1)
