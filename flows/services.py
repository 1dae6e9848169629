"""The one place that turns settings into live service endpoints.

Configured URLs (``SMPROD_DATABASE_URL``, ``SMPROD_MLFLOW_TRACKING_URI``,
``SMPROD_PREFECT_API_URL``) win; anything unset is the embedded stack under the work directory,
started on demand. Prefect without a configured URL uses the embedded server when it runs and
Prefect's ephemeral API otherwise (one-off runs need no server).
"""

from __future__ import annotations

import os

from infra.stack import EmbeddedStack, Endpoints
from smprod.config import Settings, load_settings
from smprod.secrets import SECRET_SETTINGS, plain


def resolve_endpoints(settings: Settings, start: bool = True) -> Endpoints:
    """Endpoints for ``settings``; ``start`` starts embedded parts that are needed and down.

    The endpoints hold plain URLs (passwords included): they are for making connections, and
    are never flow parameters, log lines or files.
    """
    stack = EmbeddedStack(settings.workdir)
    database_url, tracking_uri = plain(settings.database_url), plain(settings.mlflow_tracking_uri)
    needs_embedded_db = database_url is None or tracking_uri is None
    if needs_embedded_db and start:
        stack.up_postgres()
    embedded = stack.endpoints(stack.prefect_url()) if needs_embedded_db else None
    return Endpoints(
        database_url=database_url or embedded.database_url,  # type: ignore[union-attr]
        mlflow_tracking_uri=tracking_uri or embedded.mlflow_tracking_uri,  # type: ignore[union-attr]
        mlflow_artifact_root=embedded.mlflow_artifact_root if embedded else "",
        prefect_api_url=settings.prefect_api_url or stack.prefect_url(),
    )


def with_secrets(settings: Settings) -> Settings:
    """``settings`` with unset secret settings taken from this process's configuration.

    Deployments store their settings without the secrets (``smprod serve``,
    :func:`smprod.secrets.without_secrets`); the flow run reads them here, where it connects,
    from ``SMPROD_CONFIG`` and the ``SMPROD_*`` environment of the process that runs it. Set
    ones (a command passing its own settings) are kept.
    """
    missing = [name for name in SECRET_SETTINGS if getattr(settings, name) is None]
    if not missing:
        return settings
    edge = load_settings()  # SMPROD_CONFIG's file, if set
    return settings.model_copy(update={name: getattr(edge, name) for name in missing})


def use_prefect_api(endpoints: Endpoints) -> None:
    """Point this process's Prefect client at the resolved API (unset: ephemeral mode).

    Prefect reads ``PREFECT_API_URL`` from the environment when a flow starts; this is the edge
    of the system, so setting it here is where it belongs.
    """
    if endpoints.prefect_api_url:
        os.environ["PREFECT_API_URL"] = endpoints.prefect_api_url
    else:
        os.environ.pop("PREFECT_API_URL", None)
