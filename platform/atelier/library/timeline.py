"""The library timeline: photos in a stable order, paged by keyset cursors, and its month index.

A cursor holds the sort key and id of the last photo shown, so a page near the end of 100,000
photos costs the same as the first (an index range scan, never an OFFSET), and photos added or
deleted meanwhile never make a page repeat or skip one. Dates group by UTC day and month.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from django.conf import settings
from django.db.models import CharField, Count, F, Func, Q

# sort name -> (column, newest/last first?)
SORTS = {"taken": ("shown_at", True), "added": ("created_at", True), "title": ("sort_title", False)}
DATE_SORTS = ("taken", "added")
DEFAULT_SORT = "taken"
DEFAULT_LIMIT = 100  # the page size cap is the API's: settings.ATELIER_API_MAX_PAGE


class InvalidPaging(ValueError):
    """A bad sort, cursor or limit; the message names the parameter."""


@dataclass
class Page:
    photos: list
    next_cursor: str | None


def check_sort(sort: str | None) -> str:
    sort = sort or DEFAULT_SORT
    if sort not in SORTS:
        raise InvalidPaging(f"sort: must be one of {', '.join(SORTS)}")
    return sort


def check_limit(value, default: int = DEFAULT_LIMIT) -> int:
    cap = settings.ATELIER_API_MAX_PAGE
    if value in (None, ""):
        return min(default, cap)
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise InvalidPaging(f"limit: must be an integer, got {str(value)[:40]!r}") from None
    if not 1 <= limit <= cap:
        raise InvalidPaging(f"limit: must be between 1 and {cap}")
    return limit


def ordered(photos, sort: str):
    column, descending = SORTS[sort]
    return photos.order_by(f"-{column}", "-id") if descending else photos.order_by(column, "id")


def timeline_page(*, photos, sort: str = DEFAULT_SORT, cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> Page:
    """``limit`` photos of ``photos`` (already permission-filtered) after ``cursor``, in ``sort`` order."""
    sort = check_sort(sort)
    if cursor:
        photos = photos.filter(_after(sort, *decode_cursor(cursor, sort)))
    rows = list(ordered(photos, sort)[:limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(photos=rows, next_cursor=cursor_after(rows[-1], sort) if more else None)


def _after(sort: str, key, pk: int) -> Q:
    # Written as `key <= v AND (key < v OR id < pk)` so the index range on `key` is used directly.
    column, descending = SORTS[sort]
    op = "lt" if descending else "gt"
    edge = "lte" if descending else "gte"
    return Q(**{f"{column}__{edge}": key}) & (Q(**{f"{column}__{op}": key}) | Q(**{f"id__{op}": pk}))


def cursor_after(photo, sort: str) -> str:
    column, _ = SORTS[sort]
    key = getattr(photo, column)
    return _encode(key.isoformat() if isinstance(key, datetime) else key, photo.pk)


def month_cursor(month: str, sort: str) -> str | None:
    """Cursor that starts a date-sorted timeline at the newest photo of ``month`` (YYYY-MM)."""
    if sort not in DATE_SORTS:
        return None
    year, mon = int(month[:4]), int(month[5:7])
    start_of_next = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=timezone.utc)
    return _encode(start_of_next.isoformat(), 0)  # everything strictly before the next month


def _encode(key, pk: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([key, pk]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str):
    try:
        key, pk = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(pk, int) or not isinstance(key, str):
            raise ValueError
        if sort in DATE_SORTS:
            key = datetime.fromisoformat(key)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidPaging("cursor: not a cursor from this list (start again without one)") from None
    return key, pk


class _Month(Func):
    """The UTC month of a timestamp in each database's cheapest native form: 'YYYY-MM' text on
    SQLite (timestamps are ISO text there), the month's first instant on PostgreSQL."""
    output_field = CharField()

    def as_sqlite(self, compiler, conn, **extra):
        return self.as_sql(compiler, conn, template="substr(%(expressions)s, 1, 7)", **extra)

    def as_postgresql(self, compiler, conn, **extra):
        return self.as_sql(compiler, conn, template="date_trunc('month', %(expressions)s AT TIME ZONE 'UTC')", **extra)


def _month_text(value) -> str:
    return value if isinstance(value, str) else value.strftime("%Y-%m")


def month_index(*, photos, sort: str = DEFAULT_SORT) -> list[dict]:
    """[{month, count, cursor}] newest first, for jumping through a date-sorted timeline."""
    sort = check_sort(sort)
    if sort not in DATE_SORTS:
        return []
    column, _ = SORTS[sort]
    rows = (photos.order_by().annotate(month=_Month(F(column))).values("month")
            .annotate(count=Count("id")).order_by("-month"))
    months = [(_month_text(r["month"]), r["count"]) for r in rows]
    return [{"month": month, "count": count, "cursor": month_cursor(month, sort)} for month, count in months]

