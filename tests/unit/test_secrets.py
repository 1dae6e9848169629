"""Secret settings: masked wherever settings are serialised, redacted wherever they are shown."""

from __future__ import annotations

import json

import pytest
from fastapi.encoders import jsonable_encoder
from pydantic import SecretStr

from smprod.config import load_settings
from smprod.secrets import MASK, plain, public_url, redact_url, shown_settings, without_secrets

PASSWORD = "S3cretPW"
DB_URL = f"postgresql+psycopg://smprod:{PASSWORD}@db.example:5432/smprod?sslmode=require"
ML_URL = f"https://bob:{PASSWORD}@mlflow.example:5000/"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (DB_URL, f"postgresql+psycopg://smprod:{MASK}@db.example:5432/smprod?sslmode=require"),
        (ML_URL, f"https://bob:{MASK}@mlflow.example:5000/"),
        (  # libpq takes the password as a query parameter too
            f"postgresql://db.example/smprod?user=a&password={PASSWORD}&sslmode=verify-full",
            f"postgresql://db.example/smprod?user=a&password={MASK}&sslmode=verify-full",
        ),
        (  # the embedded PostgreSQL's URL: a user, no password, a socket directory
            "postgresql+psycopg://postgres@/smprod?host=/srv/smprod/stack/postgres",
            "postgresql+psycopg://postgres@/smprod?host=/srv/smprod/stack/postgres",
        ),
        ("http://127.0.0.1:4200/api", "http://127.0.0.1:4200/api"),
        ("not a url", "not a url"),
    ],
)
def test_redact_url_hides_only_the_secrets(url, shown):
    assert redact_url(url) == shown
    assert redact_url(SecretStr(url)) == shown


def test_public_url_drops_credentials_and_query():
    assert public_url(ML_URL) == "https://mlflow.example:5000/"
    assert public_url("https://mlflow.example/?token=abc") == "https://mlflow.example/"


def test_url_settings_are_masked_in_every_serialisation(monkeypatch):
    monkeypatch.setenv("SMPROD_DATABASE_URL", DB_URL)
    settings = load_settings(mlflow_tracking_uri=ML_URL)

    assert plain(settings.database_url) == DB_URL and plain(settings.mlflow_tracking_uri) == ML_URL
    # what a log line, pydantic's JSON and Prefect's parameter encoder (FastAPI's) make of it
    for text in (repr(settings), settings.model_dump_json(), json.dumps(jsonable_encoder(settings))):
        assert PASSWORD not in text
    assert jsonable_encoder(settings)["database_url"] == "**********"


def test_shown_settings_name_the_server_but_not_the_password():
    shown = shown_settings(load_settings(database_url=DB_URL, mlflow_tracking_uri=ML_URL))
    assert PASSWORD not in json.dumps(shown)
    assert shown["database_url"] == redact_url(DB_URL) and shown["mlflow_tracking_uri"] == redact_url(ML_URL)
    assert shown_settings(load_settings())["database_url"] is None  # unset: the embedded stack


def test_deployment_parameters_leave_the_secrets_out():
    stored = without_secrets(load_settings(database_url=DB_URL, bbox="-98,35,-96.8,35.7"))
    assert "database_url" not in stored and "mlflow_tracking_uri" not in stored
    assert stored["bbox"] == [-98.0, 35.0, -96.8, 35.7]
    assert PASSWORD not in json.dumps(stored)
