"""Database messages: which database, what was being done, never the password."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from smprod import db
from smprod.errors import DatabaseError


@pytest.mark.parametrize(
    ("url", "described"),
    [
        ("postgresql+psycopg://smprod:S3cretPW@db.example:5432/prod", "'prod' on db.example:5432 as smprod"),
        (
            "postgresql+psycopg://postgres@/smprod?host=/srv/w/stack/postgres",
            "'smprod' on /srv/w/stack/postgres as postgres",
        ),
        ("postgresql+psycopg:///smprod", "'smprod' on localhost"),
    ],
)
def test_describe_names_the_database_without_the_password(url, described):
    assert db.describe(url) == described


def test_an_outage_is_one_database_error_naming_database_and_operation():
    url = "postgresql+psycopg://smprod:S3cretPW@db.example/prod"
    driver = OperationalError("SELECT 1", {}, Exception("connection refused\n\tIs the server running?"))
    with (
        pytest.raises(DatabaseError) as info,
        db.outage_as_error(url, "recording stage 'produce' of 2024-06-20"),
    ):
        raise driver
    message = str(info.value)
    assert message.startswith(
        "database 'prod' on db.example as smprod unavailable while recording stage 'produce' of 2024-06-20: "
        "connection refused Is the server running?"
    )
    assert "S3cretPW" not in message and "rerun when it is back" in message
    assert info.value.__cause__ is driver


def test_other_errors_pass_through_unchanged():
    with pytest.raises(ValueError, match="not an outage"), db.outage_as_error("postgresql:///x", "reading"):
        raise ValueError("not an outage")
