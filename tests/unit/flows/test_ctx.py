"""The flows' context: one engine per context, never pickled, disposed when done."""

from __future__ import annotations

import pickle

from pydantic import SecretStr

from flows.daily import Ctx
from smprod.config import load_settings

URL = "postgresql+psycopg://smprod@localhost:1/smprod"  # never connected to here


def _ctx(tmp_path) -> Ctx:
    settings = load_settings(None, workdir=tmp_path / "work")
    return Ctx(settings, SecretStr(URL), SecretStr("postgresql://mlflow@localhost:1/mlflow"), "")


def test_every_use_gets_the_same_engine(tmp_path):
    ctx = _ctx(tmp_path)
    assert ctx.engine is ctx.engine
    assert ctx.engine.url.render_as_string(hide_password=False) == URL


def test_a_pickled_context_leaves_its_engine_behind(tmp_path):
    ctx = _ctx(tmp_path)
    engine = ctx.engine
    copy = pickle.loads(pickle.dumps(ctx))
    assert copy == ctx and "engine" not in copy.__dict__
    assert copy.engine is not engine and copy.engine.url == engine.url
    assert ctx.engine is engine  # the original keeps its own


def test_close_disposes_and_a_later_use_makes_a_new_engine(tmp_path):
    with _ctx(tmp_path) as ctx:
        first = ctx.engine
    assert "engine" not in ctx.__dict__
    assert ctx.engine is not first
    ctx.close()
    ctx.close()  # nothing left to dispose: no error
