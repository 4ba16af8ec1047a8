"""One JSON error shape for the whole API: {"code", "message", "errors"}."""
from __future__ import annotations

from http import HTTPStatus


class RuleError(Exception):
    """A change the domain's rules forbid (a closed incident, an illegal transition …).

    The one error handler of `create_app` answers 409 and rolls everything back; any other exception
    from domain code is a bug and answers 500.
    """


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, errors: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors or {}

    def as_json(self) -> dict:
        return {"code": self.code, "message": self.message, "errors": self.errors}


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def conflict(message: str) -> ApiError:
    return ApiError(409, "conflict", message)


def unprocessable(errors: dict, message: str = "the request has invalid fields") -> ApiError:
    return ApiError(422, "unprocessable_entity", message, errors)


def error_body(status: int, message: str | None = None, errors: dict | None = None) -> dict:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return {"code": phrase.lower().replace(" ", "_").replace("-", "_"), "message": message or phrase, "errors": errors or {}}
