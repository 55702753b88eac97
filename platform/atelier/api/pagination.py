"""Paging of API lists: `?limit=&offset=` through core.validation.page_bounds, so a page size above
the cap (or a negative, fractional or astronomic number) is refused with the field named."""
from django.conf import settings
from rest_framework import pagination
from rest_framework.exceptions import ValidationError

from atelier.core.validation import InvalidInput, page_bounds


def api_page_bounds(request, *, default: int | None = None, maximum: int | None = None) -> tuple[int, int]:
    """(limit, offset) of a list request; a DRF ValidationError (400 naming the field) when bad."""
    maximum = maximum or settings.ATELIER_API_MAX_PAGE
    try:
        return page_bounds(request.query_params, default=min(default or settings.REST_FRAMEWORK["PAGE_SIZE"], maximum),
                           maximum=maximum)
    except InvalidInput as exc:
        raise ValidationError({exc.field: [str(exc).split(": ", 1)[-1]]}) from None


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """DRF's limit/offset page ({count, next, previous, results}) with refused bad bounds."""

    def paginate_queryset(self, queryset, request, view=None):
        self.limit, self.offset = api_page_bounds(request)
        self.request = request
        self.count = self.get_count(queryset)
        if self.count == 0 or self.offset > self.count:
            return []
        return list(queryset[self.offset:self.offset + self.limit])

    def get_schema_operation_parameters(self, view):
        params = super().get_schema_operation_parameters(view)
        for p in params:
            if p["name"] == "limit":
                p["schema"].update({"minimum": 1, "maximum": settings.ATELIER_API_MAX_PAGE})
                p["description"] = f"results per page, 1..{settings.ATELIER_API_MAX_PAGE}"
            elif p["name"] == "offset":
                p["schema"].update({"minimum": 0})
        return params
