"""Additions to the generated OpenAPI schema."""

ERROR = {
    "type": "object",
    "description": 'Every error: {"message": what went wrong, "detail": field errors or null}.',
    "properties": {
        "message": {"type": "string"},
        "detail": {"nullable": True},
    },
    "required": ["message", "detail"],
}
ERRORS = {
    "400": "The request is not valid; `detail` names the fields and why.",
    "401": "Not logged in: send `Authorization: Token <key>` or a session cookie.",
    "403": "Your role does not allow this.",
    "404": "No such object, or a page past the end of the list.",
    "409": "Refused in the pool's current state; `message` says why and what to do.",
    "411": "An upload sent in chunks: send it with a Content-Length.",
    "413": "The body is larger than this operation takes; refused before it is read.",
    "415": "The body is not JSON, a form or multipart data.",
}
CHANGES = {"post", "put", "patch", "delete"}


def add_error_responses(result, generator, request, public):
    """Document the error answers every operation can give, in their one JSON shape."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result["paths"].values():
        for method, operation in operations.items():
            codes = ["401", "403", "404"]
            if method in CHANGES or operation.get("parameters"):
                codes.append("400")
            if method in CHANGES:
                codes += ["409", "415"]
            for code in codes:
                operation["responses"].setdefault(
                    code, {"description": ERRORS[code], "content": error}
                )
            for code, response in operation["responses"].items():
                if code in ERRORS and "content" not in response:  # declared by the view
                    response["content"] = error
    return result
