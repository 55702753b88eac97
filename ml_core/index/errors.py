"""Exceptions raised when a saved index cannot be trusted.

The database is the source of truth and a FAISS file is only a cache, so every way a file can
be wrong maps to one exception the platform catches to rebuild from the stored embeddings
(with a warning) instead of serving wrong results. All derive from :class:`IndexLoadError`.
"""


class IndexLoadError(Exception):
    """A saved index could not be used; rebuild it from the database embeddings."""


class IndexMissing(IndexLoadError, FileNotFoundError):
    """No index file at the given path (first start, or it was deleted)."""


class IndexCorrupt(IndexLoadError):
    """The file is truncated, has a bad checksum or header, or faiss cannot read it."""


class IndexStale(IndexLoadError):
    """The file is intact but describes other data (model id, dimension or count mismatch)."""
