"""Date options: a malformed date is a usage error (exit 2) caught before anything starts."""

from __future__ import annotations

import pytest

from flows.cli import main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--day", "2024-6-1x"], "--day '2024-6-1x' is not a date YYYY-MM-DD"),
        (["backfill", "--start", "2024-13-01", "--end", "2024-06-02"], "--start '2024-13-01'"),
        (["reprocess", "--since", "yesterday"], "--since 'yesterday'"),
        (["train", "--end", "soon"], "--end 'soon'"),
        (["catalog", "publish", "notaday"], "day 'notaday'"),
    ],
)
def test_bad_dates_exit_2_without_starting_the_stack(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--workdir", str(tmp_path)])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "stack").exists()  # PostgreSQL was not started for a typo
