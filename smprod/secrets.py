"""Secret settings: how they are held, taken out and shown.

Connection URLs may carry a password (``postgresql+psycopg://user:PW@host/db``, a libpq
``?password=PW``, an MLflow server ``https://user:PW@host``). :class:`smprod.config.Settings`
holds them as :class:`pydantic.SecretStr`, so every serialisation of the settings (Prefect
flow-run parameters, a settings repr in a log line, a JSON dump) shows a mask, and the plain
value is taken out with :func:`plain` only where a connection is made. Anything that shows a URL
to people (``smprod config``, error messages) uses :func:`redact_url`; anything that publishes
one (a link in a STAC item) uses :func:`public_url`.

Earthdata credentials are never settings: earthaccess reads ``EARTHDATA_USERNAME`` /
``EARTHDATA_PASSWORD`` or ``~/.netrc`` itself (:mod:`smprod.inputs.sources.earthdata`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

#: The settings that may hold a password (each a URL, held as ``SecretStr``).
SECRET_SETTINGS = ("database_url", "mlflow_tracking_uri")
#: What a hidden password or secret query value is replaced by.
MASK = "***"
#: Query parameters that carry secrets in libpq URLs (``password``, ``sslpassword``; libpq
#: "Connection URIs") and in common token-style URLs.
SECRET_QUERY_KEYS = frozenset({"password", "sslpassword", "token", "access_token", "api_key", "apikey"})


def plain(value: SecretStr | str | None) -> str | None:
    """The plain text of a secret setting (for making a connection), None when unset."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


def redact_url(url: str | SecretStr) -> str:
    """``url`` with its password and secret query values replaced by :data:`MASK`.

    Everything else (scheme, user, host, port, database, other query values) stays, so the
    result still says which server and database are meant. Text that is not a URL is
    returned unchanged.
    """
    text = plain(url) or ""
    parts = urlsplit(text)
    if not parts.scheme or "://" not in text:
        return text
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:{MASK}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc, query=_redact_query(parts.query)))


def _redact_query(query: str) -> str:
    fields = []
    for field in query.split("&") if query else []:
        key, eq, _value = field.partition("=")
        fields.append(f"{key}={MASK}" if eq and key.lower() in SECRET_QUERY_KEYS else field)
    return "&".join(fields)


def public_url(url: str | SecretStr) -> str:
    """``url`` without user information or query: what may be published (links in STAC items)."""
    parts = urlsplit(plain(url) or "")
    hostport = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=hostport, query="", fragment=""))


def shown_settings(settings: Any) -> dict[str, Any]:
    """A settings object as JSON-ready values, secret URLs redacted (``smprod config``).

    Args:
        settings: a :class:`smprod.config.Settings` (any pydantic model with the fields of
            :data:`SECRET_SETTINGS`).
    """
    shown: dict[str, Any] = settings.model_dump(mode="json")
    for name in SECRET_SETTINGS:
        value = getattr(settings, name, None)
        shown[name] = redact_url(value) if value is not None else None
    return shown


def without_secrets(settings: Any) -> dict[str, Any]:
    """JSON-ready settings with the secret fields left out (stored deployment parameters).

    A flow that receives them takes the secrets from its own configuration where it connects
    (:func:`flows.services.with_secrets`).
    """
    values: dict[str, Any] = settings.model_dump(mode="json", exclude=set(SECRET_SETTINGS))
    return values
