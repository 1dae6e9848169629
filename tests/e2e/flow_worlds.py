"""What the end-to-end flow tests share: a fresh database, a champion trained on the small world,
and a work directory of the small world with settings pointing at both.

Each test module keeps its own champion (its own MLflow store and registered name, prefixed),
so modules never see each other's models.
"""

from __future__ import annotations

import os
import shutil
import types
import uuid
from pathlib import Path

from smprod import db
from smprod.config import load_settings
from smprod.layout import WorkLayout
from tests.conftest import SMALL_BBOX

#: The small world's bbox as a setting value.
BBOX = ",".join(str(v) for v in SMALL_BBOX)


def fresh_database(pg_server, prefix: str) -> str:
    """A new, empty database on the session's PostgreSQL; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    pg_server.psql(f'CREATE DATABASE "{name}";')
    return db.normalise_url(pg_server.get_uri().replace("/postgres?", f"/{name}?", 1))


def train_champion(small_world, pg_server, tmp_path_factory, prefix: str):  # type: ignore[no-untyped-def]
    """A model trained on the 14 days before the small world's last day, in a new MLflow store
    (databases and registered name named after ``prefix``); (champion, training result)."""
    from smprod import __version__
    from smprod.inputs.dayfiles import InputStore
    from smprod.mlops.lifecycle import TrainingSpec, train_and_register

    tracking_uri = fresh_database(pg_server, f"{prefix}_mlflow")
    promotions = fresh_database(pg_server, f"{prefix}_models")
    db.upgrade(promotions)
    spec = TrainingSpec(
        end=small_world.days[-2],
        window_days=14,
        region=small_world.region,
        coarse_product="SPL3SMP",
        kind="rf",
        model_name=f"{prefix}-{uuid.uuid4().hex[:6]}",
        code_version=__version__,
    )
    artifacts = str(tmp_path_factory.mktemp(f"{prefix}_mlflow_artifacts"))
    result = train_and_register(
        spec, InputStore(small_world.layout), tracking_uri, artifacts, db.make_engine(promotions)
    )
    return types.SimpleNamespace(tracking_uri=tracking_uri, name=spec.model_name), result


def flow_world(small_world, champion, database_url: str, tmp_path: Path) -> types.SimpleNamespace:
    """A work directory on a hard-linked copy of the small world's archive, with the settings
    (and the overrides they came from) that point at ``database_url`` and ``champion``."""
    archive = tmp_path / "archive"
    shutil.copytree(small_world.archive, archive, copy_function=os.link)
    overrides = {
        "workdir": tmp_path / "work",
        "archive": archive,
        "bbox": BBOX,
        "database_url": database_url,
        "mlflow_tracking_uri": champion.tracking_uri,
        "model_name": champion.name,
        "validation_min_n": 1,
        "retrain_insitu_ubrmse": 1.0,
    }
    return types.SimpleNamespace(
        settings=load_settings(**overrides),
        overrides=overrides,
        layout=WorkLayout(tmp_path / "work"),
        archive=archive,
        days=small_world.days,
        region=small_world.region,
        engine=db.make_engine(database_url),
        log=tmp_path / "smprod.log",
    )
