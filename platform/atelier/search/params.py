"""Request parameters → keyword arguments of `search_photos` (shared by the API and the page)."""
from __future__ import annotations

from datetime import datetime, time, timezone as dt_timezone

from django.utils.dateparse import parse_date, parse_datetime

from atelier.core.validation import MAX_ID
from atelier.library.image_gate import stored_extensions
from atelier.search.services import SearchError

FORMAT_ALIASES = {"jpeg": "jpg", "tiff": "tif", "heif": "heic"}
KNOWN_FORMATS = set(stored_extensions())


def _int(value, name: str, *, default: int | None = None) -> int | None:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SearchError(f"{name}: must be an integer, got {str(value)[:40]!r}") from None


def _ids(values, name: str) -> list[int]:
    out = []
    for raw in values:
        for part in str(raw).split(","):
            if part.strip():
                number = _int(part.strip(), name)
                if not 1 <= number <= MAX_ID:
                    raise SearchError(f"{name}: ids are integers between 1 and {MAX_ID}")
                out.append(number)
    return out


def _date(value, name: str, *, end: bool = False) -> datetime | None:
    if value in (None, ""):
        return None
    try:  # well-formed but impossible dates (2024-02-30, T25:00) raise ValueError
        stamp = parse_datetime(value) if "T" in value or " " in value else None
        day = None if stamp else parse_date(value)
    except ValueError:
        raise SearchError(f"{name}: no such date or time: {value[:40]!r}") from None
    if stamp is None:
        if day is None:
            raise SearchError(f"{name}: expected a date like 2024-06-30, got {value[:40]!r}")
        stamp = datetime.combine(day, time.max if end else time.min)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt_timezone.utc)


def _formats(values) -> list[str]:
    out = []
    for raw in values:
        for part in str(raw).split(","):
            name = FORMAT_ALIASES.get(part.strip().lower(), part.strip().lower())
            if not name:
                continue
            if name not in KNOWN_FORMATS:
                raise SearchError(f"filetype: unknown format {part.strip()[:20]!r}")
            out.append(name)
    return out


def search_kwargs(params) -> dict:
    """Filters, paging and sort from a QueryDict (or a dict of lists)."""
    getlist = params.getlist if hasattr(params, "getlist") else (lambda k: params.get(k, []))
    get = params.get
    date_from = _date(get("date_from"), "date_from")
    date_to = _date(get("date_to"), "date_to", end=True)
    if date_from and date_to and date_from > date_to:
        raise SearchError("date_from: must not be after date_to")
    tags = [t for raw in getlist("tag") + getlist("tags") for t in str(raw).split(",") if t.strip()]
    from atelier.search.filters import CORE, available_filters

    extra = {name: getlist(name) for name in available_filters()
             if name not in (*CORE, "tags") and name in params and getlist(name)}
    return {
        "extra_filters": extra or None,
        "collections": _ids(getlist("collection"), "collection") or None,
        "date_from": date_from, "date_to": date_to,
        "formats": _formats(getlist("filetype")) or None,
        "tags": tags or None,
        "offset": _int(get("offset"), "offset", default=0),
        "limit": _int(get("limit"), "limit", default=20),
        "sort": get("sort") or "relevance",
    }
