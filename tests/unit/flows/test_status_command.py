"""``smprod status`` on a work directory where nothing was produced: a clear message, exit 0,
and nothing created (no database started for a look)."""

from __future__ import annotations

import json

import pytest

from flows.cli import main


@pytest.mark.parametrize("make", [True, False])
def test_status_of_an_empty_work_directory_says_so(tmp_path, capsys, monkeypatch, make: bool) -> None:
    for name in ("SMPROD_DATABASE_URL", "SMPROD_CONFIG", "SMPROD_WORKDIR"):
        monkeypatch.delenv(name, raising=False)
    workdir = tmp_path / "work"
    if make:
        workdir.mkdir()
    with pytest.raises(SystemExit) as exit_:
        main(["status", "--workdir", str(workdir)])
    out = capsys.readouterr()
    assert exit_.value.code == 0 and "Traceback" not in out.err
    assert out.out.splitlines()[0] == f"{workdir}: nothing produced yet"
    assert "smprod demo" in out.out and "smprod backfill" in out.out
    with pytest.raises(SystemExit):
        main(["status", "--json", "--workdir", str(workdir)])
    report = json.loads(capsys.readouterr().out)
    assert report["newest"] is None and report["failed"] == [] and report["pending"] == []
    assert report["product_days"] == 0 and report["workdir"] == str(workdir)
    assert workdir.is_dir() == make and not (workdir / "stack").exists()
