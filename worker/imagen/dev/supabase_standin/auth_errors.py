"""The Auth stand-in's errors: apierrors.HTTPError (supabase/auth errors.go, apierrors/apierrors.go)."""

from __future__ import annotations


class AuthError(Exception):
    """apierrors.HTTPError; `reasons` makes it a WeakPasswordError."""

    def __init__(self, status: int, code: str, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.reasons = status, code, message, reasons


def bad_request(code: str, message: str) -> AuthError:
    return AuthError(400, code, message)


def unexpected(message: str) -> AuthError:
    return AuthError(500, "unexpected_failure", message)
