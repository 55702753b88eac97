"""Words in titles, captions and file names: the keyword half of hybrid search.

PostgreSQL uses full-text search over ``title || caption || filename`` (the GIN index from this
app's migration 0001 serves it); other databases fall back to ``icontains`` on each field.
"""
from __future__ import annotations

from django.db import connection
from django.db.models import Q

TSV = "to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(caption, '') || ' ' || coalesce(filename, ''))"
MAX_KEYWORD_HITS = 50
SCAN_LIMIT = 200_000  # without full-text indexes, skip keyword matching over more photos than this


def keyword_matches(photos, phrases: list[str], *, limit: int = MAX_KEYWORD_HITS, scope_size: int = 0) -> list[int]:
    """Ids of ``photos`` whose text contains every phrase, newest first.

    ``scope_size`` (how many photos ``photos`` may hold) lets the non-PostgreSQL fallback, a table
    scan, step aside over very large scopes instead of adding seconds to a search.
    """
    phrases = [p for p in phrases if len(p) >= 2]
    if not phrases or (connection.vendor != "postgresql" and scope_size > SCAN_LIMIT):
        return []
    if connection.vendor == "postgresql":
        where = [f"{TSV} @@ plainto_tsquery('simple', %s)"] * len(phrases)
        photos = photos.extra(where=where, params=phrases)
    else:
        for phrase in phrases:
            photos = photos.filter(Q(title__icontains=phrase) | Q(caption__icontains=phrase) | Q(filename__icontains=phrase))
    # No ORDER BY in SQL: with one, PostgreSQL may walk the primary key backwards evaluating
    # to_tsvector on every row until `limit` matches turn up (seconds when there are none)
    # instead of asking the GIN index. The newest of the matches found come first.
    return sorted(photos.order_by().values_list("id", flat=True)[:limit], reverse=True)
