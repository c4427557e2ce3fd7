"""Business operations. One function = one use case; services flush, the request commits once.

Services never see `request`: views parse and authorize, then call them with plain values.
"""
from __future__ import annotations


class ServiceError(Exception):
    """A rule said no. `message` is already translated; `field` names the input at fault, if any."""

    status = 422

    def __init__(self, message: str, field: str | None = None, **params):
        super().__init__(str(message))
        self.message = str(message)
        self.field = field
        self.params = params

    def form_errors(self, field: str) -> dict[str, str]:
        """The messages a form shows beside its fields: this one beside `field` (the form's main input,
        or "form" for the whole form). `Invalid` answers its own messages, one per field."""
        return {field: self.message}


class NotAllowed(ServiceError):
    status = 403


class Conflict(ServiceError):
    status = 409


class Invalid(ServiceError):
    """Input that breaks a rule; `errors` maps each field to its translated message."""

    status = 422

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = {k: str(v) for k, v in errors.items()}

    def form_errors(self, field: str) -> dict[str, str]:
        return dict(self.errors)
