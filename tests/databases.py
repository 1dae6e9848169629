"""Database URLs with a password, for the tests that check it never shows."""

from __future__ import annotations

#: A password the tests' database URLs carry. The local servers trust their unix socket, so it
#: is sent but not needed; smprod must never show or store it.
DB_PASSWORD = "S3cretPW-db"


def with_password(url: str, password: str = DB_PASSWORD) -> str:
    """``url`` (``scheme://user@host/db`` or ``scheme://user:@...``) with ``password`` for its user."""
    scheme, rest = url.split("://", 1)
    user, at, tail = rest.partition("@")
    if not at:
        raise ValueError(f"{url!r} names no user")
    return f"{scheme}://{user.split(':', 1)[0]}:{password}@{tail}"
