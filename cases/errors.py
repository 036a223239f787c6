"""Domain errors. Every error a service raises derives from LoopgateError; the API maps
the families below to HTTP status codes in one place (config.api.exception_handler)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class LoopgateError(Exception):
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(LoopgateError):
    code = "not_found"


class Forbidden(LoopgateError):
    code = "forbidden"


class InvalidInput(LoopgateError):
    """Input that passed the serializer's shape checks but breaks a domain rule."""

    code = "invalid"

    def __init__(self, message: str, *, fields: Mapping[str, Sequence[str]] | None = None) -> None:
        super().__init__(message)
        self.fields = {key: list(value) for key, value in (fields or {}).items()}


class Conflict(LoopgateError):
    code = "conflict"


class IllegalTransition(Conflict):
    code = "illegal_transition"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class ImmutableRecord(Conflict):
    code = "immutable"
