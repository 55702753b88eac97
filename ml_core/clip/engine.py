"""``ClipEngine``: one loaded CLIP model and the fast, safe way to embed photos and queries with it.

Every vector the engine returns is float32, L2-normalised (so a dot product is the cosine
similarity FAISS and the database expect) and comes with the engine's ``model_id``, which callers
store next to it: a change of model is then detected instead of silently mixing embedding spaces.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .cache import TextEmbeddingCache, text_cache
from .decode import ImageSource, describe_source, load_image, preprocess_source
from .errors import ImageDecodeError
from .loading import LoadedModel
from .prefetch import chunked, ordered_prefetch


@dataclass
class ImageBatch:
    """Embeddings of one batch of a stream: rows of ``vectors`` belong to ``indices`` (input
    positions); ``errors`` maps the input positions of this batch that failed to a message."""

    indices: np.ndarray
    vectors: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)
    model_id: str = ""


@dataclass
class ImageEmbeddings:
    """Embeddings of a whole list: row i belongs to input i; failed inputs have a zero row and an
    entry in ``errors`` (so the caller marks that photo and carries on)."""

    vectors: np.ndarray
    errors: dict[int, str]
    model_id: str

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of the inputs that were embedded."""
        mask = np.ones(len(self.vectors), dtype=bool)
        mask[list(self.errors)] = False
        return mask


class ClipEngine:
    """A CLIP model in eval mode with its open_clip preprocess transform and tokenizer.

    Build it with ``ml_core.clip.create_engine`` / ``get_engine`` rather than directly. Methods are
    safe to call from several threads (inference only reads the model).
    """

    def __init__(self, loaded: LoadedModel, *, device: torch.device, batch_size: int,
                 decode_workers: int, cache: TextEmbeddingCache | None = None) -> None:
        self.model = loaded.model
        self.preprocess: Callable = loaded.preprocess
        self.tokenizer: Callable = loaded.tokenizer
        self.model_id = loaded.model_id
        self.spec = loaded.spec
        self.embed_dim = loaded.embed_dim
        self.image_size = loaded.image_size
        self.profile = loaded.profile   # cutoff, ranking, known words: data beside the weights (profile.py)
        self.weights_path = loaded.source.path
        self.device = device
        self.batch_size = batch_size
        self.decode_workers = decode_workers
        self.text_cache = text_cache if cache is None else cache

    def __repr__(self) -> str:
        return f"ClipEngine(model_id={self.model_id!r}, device={self.device}, embed_dim={self.embed_dim})"

    # ---- images -------------------------------------------------------------------------------

    def load_image(self, source: ImageSource):
        """Decode one photo as the engine does (draft mode at this model's input size, EXIF)."""
        return load_image(source, min_size=self.image_size)

    def preprocess_image(self, source: ImageSource) -> torch.Tensor:
        """The [3, H, W] input tensor the model sees for ``source``."""
        return preprocess_source(source, self.preprocess, self.image_size)

    def iter_image_batches(self, images: Iterable[ImageSource], *,
                           batch_size: int | None = None) -> Iterator[ImageBatch]:
        """Stream embeddings batch by batch while the next batch is decoded in worker threads.

        This is the form ingestion wants: store each batch as it arrives, keep memory flat.
        The first batch is a quarter of ``batch_size`` so the model starts work early.
        """
        size = batch_size or self.batch_size
        decode = partial(preprocess_source, transform=self.preprocess, min_size=self.image_size)
        outcomes = ordered_prefetch(decode, images, workers=self.decode_workers, ahead=2 * size)
        for chunk in chunked(outcomes, size, first=max(1, size // 4)):
            good = [o for o in chunk if o.error is None]
            errors = {o.index: _error_text(o.error) for o in chunk if o.error is not None}
            if good:
                vectors = self.encode_pixels(torch.stack([o.value for o in good]))
            else:
                vectors = np.zeros((0, self.embed_dim), dtype=np.float32)
            indices = np.array([o.index for o in good], dtype=np.int64)
            yield ImageBatch(indices, vectors, errors, self.model_id)

    def encode_images(self, images: Sequence[ImageSource], *,
                      batch_size: int | None = None) -> ImageEmbeddings:
        """Embed a list of photos; a photo that fails to decode gets an error, not an exception."""
        images = list(images)
        vectors = np.zeros((len(images), self.embed_dim), dtype=np.float32)
        errors: dict[int, str] = {}
        for batch in self.iter_image_batches(images, batch_size=batch_size):
            vectors[batch.indices] = batch.vectors
            errors.update({i: f"{describe_source(images[i])}: {msg}" for i, msg in batch.errors.items()})
        return ImageEmbeddings(vectors, errors, self.model_id)

    def encode_pixels(self, pixels: torch.Tensor) -> np.ndarray:
        """Forward pass on already preprocessed [B, 3, H, W] tensors -> [B, D] unit vectors."""
        with torch.inference_mode(), self._autocast():
            features = self.model.encode_image(pixels.to(self.device, non_blocking=True))
        return _unit_rows(features)

    # ---- texts --------------------------------------------------------------------------------

    def encode_texts(self, texts: Sequence[str], *, batch_size: int | None = None,
                     use_cache: bool = True) -> np.ndarray:
        """[N, D] unit vectors for ``texts``; repeated texts are served from the LRU cache."""
        texts = list(texts)
        out = np.empty((len(texts), self.embed_dim), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            cached = self.text_cache.get(self.model_id, text) if use_cache else None
            if cached is None:
                todo.setdefault(text, []).append(i)
            else:
                out[i] = cached
        unique = list(todo)
        size = batch_size or self.batch_size
        for start in range(0, len(unique), size):
            chunk = unique[start:start + size]
            for text, vector in zip(chunk, self.encode_tokens(self.tokenizer(chunk))):
                out[todo[text]] = vector
                if use_cache:
                    self.text_cache.put(self.model_id, text, vector)
        return out

    def encode_text(self, text: str) -> np.ndarray:
        """[D] unit vector for one query (cached)."""
        return self.encode_texts([text])[0]

    def encode_tokens(self, tokens: torch.Tensor) -> np.ndarray:
        """Forward pass on tokenized text [B, context_length] -> [B, D] unit vectors."""
        with torch.inference_mode(), self._autocast():
            features = self.model.encode_text(tokens.to(self.device, non_blocking=True))
        return _unit_rows(features)

    # ---- helpers ------------------------------------------------------------------------------

    def _autocast(self):
        """fp16 autocast on CUDA (twice the throughput, same ranking); exact fp32 on CPU."""
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def describe(self) -> dict:
        """A JSON-able summary for status pages and logs."""
        return {
            "model_id": self.model_id, "spec": self.spec.canonical, "device": str(self.device),
            "embed_dim": self.embed_dim, "image_size": self.image_size,
            "weights": None if self.weights_path is None else str(self.weights_path),
            "profile": self.profile.source, "batch_size": self.batch_size, "decode_workers": self.decode_workers,
            "torch_threads": torch.get_num_threads(),
        }


def _unit_rows(features: torch.Tensor) -> np.ndarray:
    """Normalise in float32 even after fp16 autocast, so every row has norm 1 to float precision."""
    return F.normalize(features.float(), dim=-1).cpu().numpy()


def _error_text(error: BaseException) -> str:
    """``ImageDecodeError`` already names the underlying Pillow/OS error; others get their type."""
    return str(error) if isinstance(error, ImageDecodeError) else f"{type(error).__name__}: {error}"
