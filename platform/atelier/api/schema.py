"""OpenAPI post-processing: every operation lists the error answers it really gives, all of them
the JSON error body of atelier.api.errors ({"error", "fields"?})."""

ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "what was wrong, naming the field"},
        "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                   "description": "per-field messages, for validation errors"},
    },
    "required": ["error"],
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
REASONS = {
    400: "invalid input (the field is named)",
    401: "bad or missing credentials",
    403: "not allowed",
    404: "not found, or not visible to you",
    405: "method not allowed",
    413: "too large",
    415: "unsupported media type",
}


def _answers(path: str, method: str, operation: dict) -> set[int]:
    codes = {401, 403, 405}
    if operation.get("parameters") or operation.get("requestBody"):
        codes |= {400, 404}  # ids in the query or the body may name what you cannot see
    if operation.get("requestBody"):
        codes.add(415)
        if "multipart/form-data" in operation["requestBody"].get("content", {}):
            codes.add(413)
    return codes


def add_error_responses(result, generator, request, public):
    """drf-spectacular POSTPROCESSING_HOOKS entry."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR
    for path, methods in result.get("paths", {}).items():
        for method, operation in methods.items():
            responses = operation.setdefault("responses", {})
            for code in sorted(_answers(path, method, operation)):
                responses.setdefault(str(code), {"description": REASONS[code],
                                                 "content": {"application/json": {"schema": ERROR_REF}}})
    return result
