"""OpenAPI generation: every operation lists the error answers it really gives, all of them the
JSON error body of atelier.api.errors ({"error", "fields"?}), named `Error` in the schema."""
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent

ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "what was wrong, naming the field"},
        "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                   "description": "per-field messages, for validation errors"},
    },
    "required": ["error"],
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}  # for an operation's own extend_schema(responses=...)
REASONS = {
    400: "invalid input (the field is named)",
    401: "bad or missing credentials",
    403: "not allowed",
    404: "not found, or not visible to you",
    405: "method not allowed",
    413: "too large",
    415: "unsupported media type",
    429: "too many requests: wait and retry",
}


def error_codes(operation: dict, *, authenticated: bool, throttled: bool) -> set[int]:
    """What any operation of this shape answers besides its own documented results."""
    codes = {401, 403, 405} if authenticated else {403, 405}
    if operation.get("parameters") or operation.get("requestBody"):
        codes |= {400, 404}  # ids in the path, the query or the body may name what you cannot see
    if operation.get("requestBody"):
        codes.add(415)
        if "multipart/form-data" in operation["requestBody"].get("content", {}):
            codes.add(413)
    if throttled:
        codes.add(429)
    return codes


class AutoSchema(SpectacularAutoSchema):
    """REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS."""

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        component = ResolvedComponent(name="Error", type=ResolvedComponent.SCHEMA, object="Error", schema=ERROR)
        self.registry.register_on_missing(component)
        responses = operation.setdefault("responses", {})
        codes = error_codes(operation, authenticated=bool(self.view.authentication_classes),
                            throttled=bool(self.view.get_throttles()))
        for code in sorted(codes):
            responses.setdefault(str(code), {"description": REASONS[code],
                                             "content": {"application/json": {"schema": component.ref}}})
        return operation

    def _is_list_view(self, serializer=None):
        """A serializer marked `describes_a_page` is the whole answer of a list action (a cursor page
        object), not one item of an array."""
        main = serializer if serializer is not None else self.get_response_serializers()
        if isinstance(main, dict) and main:
            main = {str(code): s for code, s in main.items()}
            main = main[min(main)]
        if getattr(main, "describes_a_page", False):
            return False
        return super()._is_list_view(serializer)
