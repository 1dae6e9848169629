"""A publish killed (SIGKILL) between writing the item and rewriting the collection, then rerun:
exactly one complete item for the day, listed once, and a valid catalog."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

from catalog.publish import publish_day
from catalog.validate import validate_catalog
from smprod.layout import PRODUCT_ID, WorkLayout
from tests.catalog_days import tiny_region, write_day

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: Publishes a day in a child process whose collection write stalls after announcing that the
#: item is complete, so the parent can kill it exactly between the two writes.
STALLING_PUBLISH = """
import sys, time
from datetime import date
from pathlib import Path
import catalog.publish as publish
from smprod.layout import WorkLayout
from tests.catalog_days import tiny_region

def stall(*args):
    print("stalled", flush=True)
    time.sleep(300)

if sys.argv[3] == "collection":  # between the item's rename and the collection write
    publish.write_collection = stall
else:  # the item's temporary file is complete, its rename not done
    publish.os.replace = stall
publish.publish_day(WorkLayout(Path(sys.argv[1])), tiny_region(), date.fromisoformat(sys.argv[2]))
"""


def _publish_and_kill(workdir: Path, day: date, where: str = "collection") -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    command = [sys.executable, "-c", STALLING_PUBLISH, str(workdir), day.isoformat(), where]
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == "stalled\n", child.stderr.read() if child.stderr else line
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL


def test_killed_publish_then_rerun_leaves_one_complete_item(tmp_path: Path) -> None:
    layout, region = WorkLayout(tmp_path), tiny_region()
    for day in (date(2024, 6, 1), date(2024, 6, 2)):
        write_day(tmp_path, day, region)
        publish_day(layout, region, day)
    killed = date(2024, 6, 3)
    write_day(tmp_path, killed, region, model_version="2")
    item_dir = layout.catalog / PRODUCT_ID / f"{PRODUCT_ID}-20240603"
    item_dir.mkdir(parents=True)
    (item_dir / f".{PRODUCT_ID}-20240603.json.tmp4242").write_text('{"type": "Fea')  # an older crash

    _publish_and_kill(tmp_path, killed)
    report = validate_catalog(layout.catalog)
    assert [(p.file.name, p.message) for p in report.problems] == [
        (f"{PRODUCT_ID}-20240603.json", "item is not listed by any collection (publish that day again)")
    ]

    publish_day(layout, region, killed)  # the rerun
    assert sorted(p.name for p in item_dir.iterdir()) == [f"{PRODUCT_ID}-20240603.json"]
    assert len(list(layout.catalog.rglob(f"*{PRODUCT_ID}-20240603*"))) == 2  # the folder and its item
    collection = json.loads((layout.catalog / PRODUCT_ID / "collection.json").read_text())
    hrefs = [link["href"] for link in collection["links"] if link["rel"] == "item"]
    assert hrefs == [f"./{PRODUCT_ID}-2024060{d}/{PRODUCT_ID}-2024060{d}.json" for d in (1, 2, 3)]
    assert collection["summaries"]["smprod:model_version"] == ["1", "2"]
    assert collection["extent"]["temporal"]["interval"][0][1] == "2024-06-03T23:59:59Z"
    item = json.loads((item_dir / f"{PRODUCT_ID}-20240603.json").read_text())
    assert item["properties"]["smprod:revision"] == 1  # the killed run's item was already this one
    assert not list(layout.catalog.rglob(".*.tmp*"))
    assert validate_catalog(layout.catalog).ok


def test_publish_killed_before_the_item_rename_leaves_the_previous_catalog(tmp_path: Path) -> None:
    layout, region = WorkLayout(tmp_path), tiny_region()
    write_day(tmp_path, date(2024, 6, 1), region)
    publish_day(layout, region, date(2024, 6, 1))
    item = layout.catalog / PRODUCT_ID / f"{PRODUCT_ID}-20240601" / f"{PRODUCT_ID}-20240601.json"
    before = item.read_bytes()
    write_day(tmp_path, date(2024, 6, 1), region, model_version="2")  # reprocess the day

    _publish_and_kill(tmp_path, date(2024, 6, 1), where="item")
    assert item.read_bytes() == before  # readers still see the complete previous item
    assert len(list(item.parent.glob(".*.tmp*"))) == 1  # the dead writer's temporary file
    assert validate_catalog(layout.catalog).ok

    publish_day(layout, region, date(2024, 6, 1))
    assert sorted(p.name for p in item.parent.iterdir()) == [item.name]
    assert json.loads(item.read_text())["properties"]["smprod:revision"] == 2
    assert validate_catalog(layout.catalog).ok
