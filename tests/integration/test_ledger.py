"""The granule ledger and quarantine on a real PostgreSQL migrated by the real migrations."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from smprod import db
from smprod.errors import DatabaseError
from smprod.inputs.granules import parse_granule_name
from smprod.inputs.ledger import REASON_SUFFIX, granule_rows, mark_used, quarantine, record_found, set_status
from smprod.inputs.sources.base import GranuleRef
from smprod.layout import WorkLayout

pytestmark = pytest.mark.integration

SMAP = "SMAP_L3_SM_P_20240601_R19240_001.h5"
LST = "MOD11A1.A2024153.h10v05.061.2024154000000.hdf"


def _ref(name, path=None, **kw):
    return GranuleRef(parse_granule_name(name), path=path, **kw)


def _row(engine, name):
    (row,) = [r for r in granule_rows(engine) if r["granule_id"] == name]
    return row


def test_found_granules_are_upserted_not_duplicated(database_url, tmp_path):
    engine = db.make_engine(database_url)
    local = tmp_path / SMAP
    local.write_bytes(b"x" * 10)
    assert record_found(engine, [_ref(SMAP, local, size=10), _ref(LST, url="https://e/x.hdf", size=5)]) == 2
    first = _row(engine, SMAP)
    assert (first["status"], first["product"], first["day"], first["release"], first["size"]) == (
        "downloaded",
        "SPL3SMP",
        date(2024, 6, 1),
        "R19240_001",
        10,
    )
    lst = _row(engine, LST)
    assert (lst["status"], lst["tile"], lst["url"], lst["path"]) == (
        "discovered",
        "h10v05",
        "https://e/x.hdf",
        None,
    )
    # Found again, now locally: discovered -> downloaded; the URL is kept; no new row.
    record_found(engine, [_ref(SMAP, local), _ref(LST, tmp_path / LST)])
    assert len(granule_rows(engine)) == 2
    lst = _row(engine, LST)
    assert (lst["status"], lst["url"], lst["path"]) == ("downloaded", "https://e/x.hdf", str(tmp_path / LST))
    again = _row(engine, SMAP)
    assert again["first_seen"] == first["first_seen"] and again["last_seen"] >= first["last_seen"]
    assert again["size"] == 10  # a ref without size does not erase what is known


def test_used_by_accumulates_days_once(database_url):
    engine = db.make_engine(database_url)
    record_found(engine, [_ref(SMAP)])
    set_status(engine, parse_granule_name(SMAP), "valid")
    assert _row(engine, SMAP)["status"] == "valid"
    for day in (date(2024, 6, 1), date(2024, 6, 4), date(2024, 6, 1)):
        assert mark_used(engine, [SMAP, "not-in-ledger.h5"], day) == 1
    row = _row(engine, SMAP)
    assert row["status"] == "used" and row["used_by"] == [date(2024, 6, 1), date(2024, 6, 4)]
    assert [r["granule_id"] for r in granule_rows(engine, day=date(2024, 6, 4))] == [SMAP]
    assert granule_rows(engine, day=date(2024, 6, 2)) == []
    with pytest.raises(ValueError, match="unknown granule status"):
        set_status(engine, parse_granule_name(SMAP), "broken")


def test_quarantine_moves_file_writes_reason_records_and_is_idempotent(database_url, tmp_path):
    engine = db.make_engine(database_url)
    layout = WorkLayout(tmp_path / "work")
    archive = tmp_path / "archive" / "deep" / "dir"
    archive.mkdir(parents=True)
    bad = archive / SMAP
    bad.write_bytes(b"truncated")
    record_found(engine, [_ref(SMAP, bad)])
    granule = parse_granule_name(SMAP)
    for _ in range(2):
        target = quarantine(engine, layout, granule, bad, "not a readable HDF5 file")
    assert not bad.exists()
    assert target == layout.quarantine / SMAP and target.read_bytes() == b"truncated"
    note = layout.quarantine / (SMAP + REASON_SUFFIX)
    assert note.read_text() == f"{SMAP}: not a readable HDF5 file\n"
    row = _row(engine, SMAP)
    assert (row["status"], row["reason"], row["path"]) == (
        "quarantined",
        "not a readable HDF5 file",
        str(target),
    )
    assert sorted(p.name for p in layout.quarantine.iterdir()) == [SMAP, SMAP + REASON_SUFFIX]
    # Found again at the same (quarantine) path: still quarantined. A fresh copy starts over.
    record_found(engine, [_ref(SMAP, target)])
    assert _row(engine, SMAP)["status"] == "quarantined"
    bad.write_bytes(b"fresh copy")
    record_found(engine, [_ref(SMAP, bad)])
    row = _row(engine, SMAP)
    assert (row["status"], row["reason"], row["path"]) == ("downloaded", None, str(bad))


def test_quarantine_without_a_file_records_the_reason(database_url, tmp_path):
    engine = db.make_engine(database_url)
    granule = parse_granule_name(LST)
    target = quarantine(engine, WorkLayout(tmp_path), granule, None, "size 3 differs from CMR's 5")
    assert not target.exists()
    row = _row(engine, LST)
    assert (row["status"], row["path"], row["product"]) == ("quarantined", None, "MOD11A1")


def test_schema_comes_from_the_ingest_migration_branch(database_url):
    assert "ingest_0001" in db.current_heads(database_url)
    columns = {c["name"] for c in sa.inspect(db.make_engine(database_url)).get_columns("granules")}
    assert {
        "product",
        "granule_id",
        "release",
        "day",
        "path",
        "size",
        "checksum",
        "status",
        "reason",
        "first_seen",
        "last_seen",
        "used_by",
    } <= columns


def test_unreachable_database_is_a_database_error():
    engine = db.make_engine("postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(DatabaseError, match="granule ledger") as info:
        record_found(engine, [_ref(SMAP)])
    assert "secret" not in str(info.value)
