"""Request parsers of the API: DRF's, plus the shared boundary check (atelier.core.validation)
on everything they parse, and a reason on every malformed body."""
from django.http.multipartparser import MultiPartParserError
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

from atelier.core.validation import first_bad_value


def _checked(data):
    found = first_bad_value(data if not hasattr(data, "lists") else dict(data.lists()))
    if found:
        field, problem = found
        raise ValidationError({field: [problem]})
    return data


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        return _checked(super().parse(stream, media_type, parser_context))


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        return _checked(super().parse(stream, media_type, parser_context))


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            result = super().parse(stream, media_type, parser_context)
        except MultiPartParserError as exc:  # DRF re-raises some as ParseError; catch the rest here
            raise ParseError(f"malformed multipart body: {exc}") from None
        _checked(result.data)
        _checked([f.name for _, files in result.files.lists() for f in files])
        return result


def body_object(request) -> dict:
    """The request body as a plain dict: a JSON object, or a form's fields (one value each)."""
    if hasattr(request.data, "dict"):
        return request.data.dict()
    if not isinstance(request.data, dict):
        raise ParseError("the body must be a JSON object")
    return dict(request.data)
