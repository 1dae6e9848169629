"""Prefect flows: daily production, backfill, retrain, reprocess. They only wire library calls.

Stages of a day (each a task with a clear name): ``ingest`` (discover, fetch, read, grid),
``model`` (load the champion or retrain per policy), ``produce`` (predict + correct + write),
``publish`` (STAC), ``validate`` (matchups and metrics). Network-facing tasks retry with
exponential backoff. A day is produced under a PostgreSQL advisory lock (never by two runs at
once) and recorded in the run ledger; a day already published under the same input key with the
same model is skipped (the key, :func:`smprod.product.produce.input_key`, covers everything the
product's bytes depend on: the day's inputs, the days gap filling reads, the region, the product
settings, the code and package versions; it is kept in the product's provenance, so it survives
restarts and does not depend on Prefect's result store), but only when the ledger's last
succeeded run of the day has that key too: a run killed after writing the files but before
publishing or validating must not make the day look done. A day produced again logs why (which
key components changed).

``smprod-reprocess`` produces again the published days whose inputs improved since
(:mod:`smprod.ops.reprocess`: IMERG Final after Early/Late, a newer SMAP release); their cache key
changes, so :func:`produce_one_day` does not skip them.

Degraded inputs degrade the product, not the schedule: a day whose SMAP covers less than
``min_smap_coverage`` of the region fails right after ingest with a message naming the day, the
coverage and the setting (before a model is loaded or trained), or with ``low_smap_coverage =
"publish"`` goes on with a warning; missing precipitation is filled by ingest and flagged.

Database outages: a :class:`~smprod.errors.DatabaseError` is not retried and ends a backfill or
reprocess at once, as every later day would meet it too; a run the database could not close is
closed by the next one (:mod:`smprod.ops.runs`, pending journal).

Stopping (:mod:`smprod.ops.stopping`): a stop asked for by SIGTERM is honoured between days and
between the stages of a day (``STOP.check``); the day's run is closed ``cancelled`` and the flow
runs end Cancelled.

Secrets: the settings reach the flows with their URLs as ``SecretStr`` (masked in the stored
flow-run parameters) or, from a deployment, without them; the plain URLs are taken out only in
:func:`make_ctx`, where the connections are made.

Training modes: the daily run is always near-real-time (the champion, trained on past days);
backfill and reprocess follow the ``training_mode`` setting, and in ``reanalysis`` mode make
their days in blocks with a model per block trained on the window around it, days after it
included (:func:`_reanalysis`; registered without an alias, so never the champion).
"""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context
from prefect.exceptions import CancelledRun
from prefect.states import Cancelled
from prefect.tasks import exponential_backoff
from pydantic import SecretStr

from flows.logs import hide_expected_tracebacks
from flows.supervise import STOP
from smprod.config import REANALYSIS, Settings
from smprod.errors import DatabaseError, StoppedError

if TYPE_CHECKING:
    from prefect import Task
    from prefect.client.schemas.objects import State, TaskRun
    from sqlalchemy.engine import Engine

    from smprod.grids.ease import Region
    from smprod.inputs.ingest import IngestReport
    from smprod.inputs.sources.base import GranuleSource
    from smprod.inputs.window import WindowReport
    from smprod.layout import WorkLayout
    from smprod.mlops.lifecycle import TrainingResult, TrainingSpec
    from smprod.ops.reprocess import Update
    from smprod.product.produce import DayProduct, InputKey
    from smprod.product.provenance import ModelInfo
    from smprod.science.models import Downscaler

NETWORK_RETRIES = 3
#: A stop honoured here, or in a subflow (whose Cancelled state a parent sees as CancelledRun).
STOPPED = (StoppedError, CancelledRun)
P = ParamSpec("P")
R = TypeVar("R")

# Expected failures (SmprodError) are logged by Prefect with their message only.
hide_expected_tracebacks()


def _worth_retrying(task: Task[..., Any], task_run: TaskRun, state: State) -> bool:
    """Retry network-facing tasks unless the failure cannot change by waiting.

    A missing required granule, a corrupt file or a bad setting fails the same way a minute
    later; retrying them would only delay the day's clear error (and a backfill's next day).
    Nor is a database outage retried: the retries are for the network, and a run ended by an
    outage is closed by the next one.
    """
    from smprod.errors import ConfigError, GranuleError, MissingInputError

    expected = MissingInputError | GranuleError | ConfigError | DatabaseError
    return not isinstance(state.data, expected)


def _cancel_on_stop(fn: Callable[P, R]) -> Callable[P, R]:
    """Wiring: a flow that honours a stop ends Cancelled in Prefect, not Failed.

    A caller of the flow then gets :class:`~prefect.exceptions.CancelledRun` (Prefect raises it
    for a Cancelled state), never the state itself, so the declared return type holds.
    """

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except STOPPED as stop:
            return cast(R, Cancelled(message=str(stop)))

    return run


@dataclass(frozen=True)
class Ctx:
    """What every task needs, as plain values (picklable for Dask workers).

    The URLs are ``SecretStr``: a task's parameters, however Prefect or a log shows them, never
    carry a password; :attr:`database_url` and :attr:`tracking_uri` give the plain values.

    One database engine (one connection pool) serves every task of the flow that made the
    context: :attr:`engine` is made on first use and kept; it is never pickled (a copy, e.g. on
    a Dask worker, makes its own). Used as a context manager, the context disposes of the
    engine's connections when the flow is done with it (:meth:`close`).
    """

    settings: Settings
    database_secret: SecretStr
    tracking_secret: SecretStr
    artifact_root: str

    @property
    def database_url(self) -> str:
        return self.database_secret.get_secret_value()

    @property
    def tracking_uri(self) -> str:
        return self.tracking_secret.get_secret_value()

    @property
    def pending(self) -> Path:
        """The run ledger's pending journal (closings a database outage deferred)."""
        from smprod.ops.runs import PENDING_DIR

        return self.settings.workdir / PENDING_DIR

    @functools.cached_property
    def engine(self) -> Engine:
        """The flow's engine, made on first use (cached in the instance, bypassing frozen)."""
        from smprod import db

        return db.make_engine(self.database_url)

    def close(self) -> None:
        """Dispose of the engine's pooled connections, if an engine was made; a later use makes
        a new one."""
        engine = self.__dict__.pop("engine", None)
        if engine is not None:
            engine.dispose()

    def __enter__(self) -> Ctx:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        """The fields only: an engine (its pool, locks and sockets) does not pickle."""
        return {name: value for name, value in self.__dict__.items() if name != "engine"}

    @property
    def region(self) -> Region:
        from smprod.grids.ease import region_from_bbox

        return region_from_bbox(self.settings.bbox, self.settings.coarse_km)

    @property
    def layout(self) -> WorkLayout:
        from smprod.layout import WorkLayout

        return WorkLayout(self.settings.workdir)

    def source(self) -> GranuleSource:
        if self.settings.earthdata:
            from smprod.inputs.sources.earthdata import EarthdataSource

            return EarthdataSource(self.settings.archive_dir)
        from smprod.inputs.sources import ArchiveSource
        from smprod.inputs.sources.archive import require_archive

        return ArchiveSource(require_archive(self.settings.archive_dir))


def make_ctx(settings: Settings) -> Ctx:
    """Resolve the service endpoints (embedded stack or configured) for the flows.

    The work directory's region is recorded on its first use, and settings for another region
    are refused before anything starts (:mod:`smprod.workdir`). Secrets a deployment's parameters
    leave out are read here, from this process's configuration (:func:`flows.services.with_secrets`).
    """
    from flows.services import resolve_endpoints, use_prefect_api, with_secrets
    from smprod.grids.ease import region_from_bbox
    from smprod.layout import WorkLayout
    from smprod.workdir import claim_work_region

    settings = with_secrets(settings)
    region = region_from_bbox(settings.bbox, settings.coarse_km)
    claim_work_region(WorkLayout(settings.workdir), region, settings.coarse_product)
    endpoints = resolve_endpoints(settings)
    use_prefect_api(endpoints)
    return Ctx(
        settings,
        SecretStr(endpoints.database_url),
        SecretStr(endpoints.mlflow_tracking_uri),
        endpoints.mlflow_artifact_root,
    )


# ------------------------------------------------------------------------------------- tasks

#: Options of the tasks that reach the network (granule sources): retried with backoff, but not
#: for a missing required granule, a corrupt file or a bad setting (:func:`_worth_retrying`).
NETWORK_TASK: dict[str, Any] = {
    "retries": NETWORK_RETRIES,
    "retry_delay_seconds": exponential_backoff(backoff_factor=10),
    "retry_condition_fn": _worth_retrying,
    "cache_policy": NO_CACHE,
}


@task(name="ingest", **NETWORK_TASK)
def ingest_task(ctx: Ctx, day: date) -> IngestReport:
    from smprod.inputs.ingest import ingest_day

    return ingest_day(
        day,
        ctx.region,
        ctx.settings.coarse_product,
        ctx.source(),
        ctx.layout,
        ctx.engine,
        use_sif=ctx.settings.use_sif,
    )


@task(name="model", cache_policy=NO_CACHE)
def model_task(ctx: Ctx, day: date) -> tuple[Downscaler, ModelInfo]:
    """The champion, retrained first when the policy says so; logs the policy's decision."""
    from smprod.errors import ModelError
    from smprod.mlops.lifecycle import load_champion
    from smprod.mlops.retrain_policy import ChampionFacts, decide_retrain, insitu_skill

    try:
        model, info, trained_through = load_champion(ctx.tracking_uri, ctx.settings.model_name)
        facts = ChampionFacts(info.version, trained_through or day, *insitu_skill(ctx.engine, info.version))
    except ModelError:
        facts = None
    decision = decide_retrain(
        day,
        facts,
        ctx.settings.retrain_max_age_days,
        ctx.settings.retrain_insitu_ubrmse,
        ctx.settings.validation_min_n,
    )
    get_run_logger().info(
        "retrain policy for %s: %s (%s)", day, "retrain" if decision.retrain else "keep", decision.reason
    )
    if decision.retrain:
        train_task(ctx, day - timedelta(days=1))
        model, info, _ = load_champion(ctx.tracking_uri, ctx.settings.model_name)
    return model, info


@task(name="model", cache_policy=NO_CACHE)
def reanalysis_model_task(ctx: Ctx, version: str) -> tuple[Downscaler, ModelInfo]:
    """Reanalysis: the version trained for the day's block (never the champion)."""
    from smprod.mlops.lifecycle import load_version

    return load_version(ctx.tracking_uri, ctx.settings.model_name, version)


@task(name="ingest-window", **NETWORK_TASK)
def ingest_window_task(ctx: Ctx, end: date) -> WindowReport:
    """Cold start: ingest the days of the training window ending ``end`` that have no inputs yet."""
    from smprod.inputs.window import ingest_window, training_days

    logger = get_run_logger()
    days = training_days(end, ctx.settings.training_window_days)
    report = ingest_window(
        days,
        ctx.region,
        ctx.settings.coarse_product,
        ctx.source(),
        ctx.layout,
        ctx.engine,
        logger.info,
        ctx.settings.use_sif,
    )
    for line in report.lines():
        logger.info(line)
    return report


def _training_spec(ctx: Ctx, end: date) -> TrainingSpec:
    from smprod import __version__
    from smprod.mlops.lifecycle import TrainingSpec

    return TrainingSpec(
        end=end,
        window_days=ctx.settings.training_window_days,
        region=ctx.region,
        coarse_product=ctx.settings.coarse_product,
        kind=ctx.settings.model_kind,
        terrain_bands=ctx.settings.terrain_bands,
        subgrid_blend=ctx.settings.subgrid_blend,
        use_sif=ctx.settings.use_sif,
        model_name=ctx.settings.model_name,
        promotion_metric=ctx.settings.promotion_metric,
        code_version=__version__,
    )


def train_task(ctx: Ctx, end: date) -> TrainingResult:
    """Ingest what the window lacks, then train, register and apply the promotion rule."""
    from smprod.inputs.dayfiles import InputStore
    from smprod.mlops.lifecycle import train_and_register

    spec = _training_spec(ctx, end)
    ingest_window_task(ctx, end)
    result = train_and_register(spec, InputStore(ctx.layout), ctx.tracking_uri, ctx.artifact_root, ctx.engine)
    logger = get_run_logger()
    for note in result.notes:
        logger.warning("review plot %s", note)
    logger.info("trained %s v%s: %s", ctx.settings.model_name, result.version, result.decision.reason)
    return result


@task(name="reanalysis-window", **NETWORK_TASK)
def reanalysis_window_task(ctx: Ctx, first: date, last: date) -> list[date]:
    """The training window of the reanalysis block ``first``..``last``: ``training_window_days``
    around it, days after it included as far as the source has SMAP (:func:`reanalysis_days`);
    its days without inputs are ingested first (cold start, as for the champion's window)."""
    from smprod.inputs.window import ingest_window, reanalysis_days, smap_days

    logger = get_run_logger()
    size, source = ctx.settings.training_window_days, ctx.source()
    offered = smap_days(source, reanalysis_days(first, last, size), ctx.region, ctx.settings.coarse_product)
    days = reanalysis_days(first, last, size, latest=max(offered, default=None))
    report = ingest_window(
        days,
        ctx.region,
        ctx.settings.coarse_product,
        source,
        ctx.layout,
        ctx.engine,
        logger.info,
        ctx.settings.use_sif,
    )
    for line in report.lines():
        logger.info("reanalysis %s..%s: %s", first, last, line)
    return days


@task(name="reanalysis-train", cache_policy=NO_CACHE)
def reanalysis_train_task(ctx: Ctx, first: date, last: date, days: list[date]) -> str:
    """Train and register the block's model (no alias: never champion); returns its version."""
    from smprod.inputs.dayfiles import InputStore
    from smprod.mlops.lifecycle import train_reanalysis

    spec = _training_spec(ctx, days[-1])
    result = train_reanalysis(
        spec, (first, last), days, InputStore(ctx.layout), ctx.tracking_uri, ctx.artifact_root
    )
    logger = get_run_logger()
    for note in result.notes:
        logger.warning("review plot %s", note)
    model, window = f"{spec.model_name} v{result.info.version}", f"{days[0]}..{days[-1]}"
    logger.info("trained %s (reanalysis) for %s..%s on %s", model, first, last, window)
    return result.info.version


def _block_version(ctx: Ctx, block: list[date]) -> str:
    """The reanalysis model of ``block``: the version its published days were already made with
    from the same window (a rerun, or a backfill resumed), else a newly trained one."""
    from smprod.mlops.lifecycle import reusable_reanalysis_version

    days = reanalysis_window_task(ctx, block[0], block[-1])
    reused = reusable_reanalysis_version(ctx.layout, block, (days[0], days[-1]))
    if reused is not None:
        window = f"{days[0]}..{days[-1]}"
        get_run_logger().info(
            "reanalysis %s..%s: v%s, trained on %s, reused", block[0], block[-1], reused, window
        )
        return reused
    return reanalysis_train_task(ctx, block[0], block[-1], days)


@task(name="produce", cache_policy=NO_CACHE)
def produce_task(ctx: Ctx, day: date, model: Downscaler, info: ModelInfo) -> DayProduct:
    from smprod.ops.scaleout import dask_client
    from smprod.product.produce import produce_day

    with dask_client(ctx.settings.dask_address) as client:
        return produce_day(
            day,
            ctx.region,
            ctx.layout,
            model,
            info,
            ctx.settings.coarse_product,
            client,
            ctx.settings.gap_correction_km,
            ctx.settings.conservation_km,
            ctx.settings.min_smap_coverage,
            ctx.settings.low_smap_coverage,
        )


@task(name="publish", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def publish_task(ctx: Ctx, day: date) -> Path:
    from catalog.publish import publish_day

    return publish_day(ctx.layout, ctx.region, day, ctx.tracking_uri)


@task(
    name="validate",
    retries=2,
    retry_delay_seconds=exponential_backoff(backoff_factor=5),
    cache_policy=NO_CACHE,
)
def validate_task(ctx: Ctx, product: DayProduct, info: ModelInfo) -> int:
    from smprod.mlops.registry import client_for
    from smprod.validation.matchups import DayFields
    from smprod.validation.pipeline import validate_produced_day
    from smprod.validation.report import log_review
    from smprod.validation.stations import find_station_files

    fields = DayFields(
        day=product.files.day,
        corrected=product.corrected,
        model_version=info.version,
        model_run_id=info.run_id,
        coarse_sm=product.coarse_sm,
        uncorrected=product.uncorrected,
        precip=product.precip,
    )
    run = validate_produced_day(
        ctx.engine,
        ctx.region,
        find_station_files(ctx.settings.archive_dir),
        fields,
        ctx.settings.validation_windows,
        ctx.settings.validation_min_n,
    )
    # the version's in situ skill where model review happens, as `smprod validate` logs it
    log_review(client_for(ctx.tracking_uri), info.name, info.version, run.metrics, product.files.day)
    return run.matchup_rows


# ------------------------------------------------------------------------------------- flows


# validate_parameters=False: Settings arrives validated (load_settings), and re-validating it in a
# Dask worker failed with pydantic's "not fully defined" error for the unpickled class.
@flow(name="smprod-day", validate_parameters=False)
@_cancel_on_stop
def produce_one_day(settings: Settings, day: date, reanalysis_version: str | None = None) -> str:
    """Every stage of one day under its lock, recorded in the run ledger; returns the status.

    A stop is honoured before a stage (the run is closed ``cancelled``); a run that the
    database cannot close now is journalled and closed by the next run (:mod:`smprod.ops.runs`).
    ``reanalysis_version``: the registered version trained for the day's reanalysis block
    (:func:`reanalysis_days`); None (the daily run) = the champion.
    """
    with make_ctx(settings) as ctx:
        return _locked_day(ctx, day, reanalysis_version)


def _locked_day(ctx: Ctx, day: date, reanalysis_version: str | None = None) -> str:
    from smprod.ops import runs

    flow_run = get_run_context().flow_run  # type: ignore[union-attr]
    with runs.day_lock(ctx.engine, day):
        runs.apply_pending(ctx.engine, ctx.pending)
        runs.close_abandoned(ctx.engine, day)
        run_id = runs.start_run(ctx.engine, day, str(flow_run.id) if flow_run else None)
        try:
            status = _stages(ctx, day, run_id, reanalysis_version)
        except StoppedError as stop:
            _close_run(ctx, run_id, "cancelled", str(stop))
            raise
        except Exception as err:
            _close_run(ctx, run_id, "failed", f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=3)}")
            raise
        outage = _close_run(ctx, run_id, status, None)
        if outage is not None:  # produced, but the ledger could not say so yet
            raise outage
    return status


def _close_run(ctx: Ctx, run_id: int, status: str, error: str | None) -> DatabaseError | None:
    from smprod.ops import runs

    return runs.finish_or_defer(ctx.engine, run_id, status, error, ctx.pending, datetime.now(UTC))


def _stages(ctx: Ctx, day: date, run_id: int, reanalysis_version: str | None = None) -> str:
    from smprod.ops import runs
    from smprod.product.produce import is_current, key_changes

    def timed(stage: str, call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        STOP.check(f"before stage {stage!r} of {day}")  # a safe point: no stage is cut short
        start = time.monotonic()
        result = call(*args, **kwargs)
        runs.record_stage(ctx.engine, run_id, stage, time.monotonic() - start)
        return result

    logger = get_run_logger()
    report = timed("ingest", ingest_task, ctx, day)
    key = _checked_key(ctx, day)
    runs.update_run(ctx.engine, run_id, inputs=report.inputs, input_key=key.value)
    if reanalysis_version is None:
        model, info = timed("model", model_task, ctx, day)
    else:
        model, info = timed("model", reanalysis_model_task, ctx, reanalysis_version)
    runs.update_run(ctx.engine, run_id, model_name=info.name, model_version=info.version)
    files = ctx.layout.product_files(day)
    if is_current(files, key.value, info) and runs.finished_with(ctx.engine, day, key.value, info.version):
        logger.info(
            "%s is already published under input key %s with v%s: skipped", day, key.value, info.version
        )
        return "skipped"
    why = "; ".join(key_changes(files, key, info))
    logger.info("%s: producing under input key %s; changed: %s", day, key.value, why)
    product = timed("produce", produce_task, ctx, day, model, info)
    if product.input_key != key.value:  # not expected: produce checks its inputs did not change
        runs.update_run(ctx.engine, run_id, input_key=product.input_key)
    timed("publish", publish_task, ctx, day)
    timed("validate", validate_task, ctx, product, info)
    return "succeeded"


def _checked_key(ctx: Ctx, day: date) -> InputKey:
    """The ingested day's input key, once its SMAP coverage passed: a day to fail fails here,
    before a model is loaded or trained; a low day to publish anyway is logged as a warning."""
    from smprod.inputs.dayfiles import InputStore
    from smprod.product.produce import ProductSettings, check_smap_coverage, input_key

    store, settings = InputStore(ctx.layout), ProductSettings.of(ctx.settings)
    _, warning = check_smap_coverage(store, day, settings)
    if warning:
        get_run_logger().warning(warning)
    return input_key(store, day, ctx.region, settings)


@flow(name="smprod-daily")
@_cancel_on_stop
def daily(day: date | None = None, settings: Settings | None = None) -> str:
    """Produce ``day`` (default: the latest day whose coarse SMAP granule is available)."""
    from smprod.config import load_settings
    from smprod.product.produce import latest_coarse_day

    settings = settings or load_settings()
    if day is None:
        with make_ctx(settings) as ctx:
            day = latest_coarse_day(
                ctx.source(), settings.coarse_product, settings.bbox, datetime.now(UTC).date()
            )
    return produce_one_day(settings, day)


@flow(name="smprod-backfill")
@_cancel_on_stop
def backfill(start: date, end: date, settings: Settings | None = None) -> dict[str, str]:
    """Days ``start``..``end``; a day that fails is reported and the others go on.

    Every day of the range is ingested first (``ingest-ahead``; a day that cannot be is left to
    fail with its own message when it runs), so each day's MODIS gaps are filled between its
    neighbours on both sides, whatever order the days then run in; the days' own ingest stage
    then reuses those files (:mod:`smprod.inputs.ingest`, "Reuse").

    Without a Dask scheduler the days run in order, one at a time (each already uses every
    core). With ``dask_address`` set, the first day runs here (it may train the champion the
    others need) and the rest run on the cluster, as many at once as it has worker threads;
    the validation windows are then recomputed in day order, so the metrics equal a serial run.
    In reanalysis mode (setting ``training_mode``) the days are made by :func:`_reanalysis`.
    """
    from smprod.config import load_settings

    settings = settings or load_settings()
    days = [start + timedelta(days=k) for k in range((end - start).days + 1)]
    reanalysis = settings.training_mode == REANALYSIS
    if len(days) <= 1 and not reanalysis:  # nothing to ingest ahead or to spread over a cluster
        return {str(day): _outcome(settings, day) for day in days}
    with make_ctx(settings) as ctx:
        for day in days:
            STOP.check(f"before ingesting {day} ahead")
            _ingest_ahead(ctx, day)
        ctx.close()  # each day has a context of its own: keep no idle connections meanwhile
        if reanalysis:
            return _reanalysis(ctx, days)
        if settings.dask_address:
            from prefect_dask import DaskTaskRunner

            outcome = {str(days[0]): _outcome(settings, days[0])}
            # prefect-dask types its runner by its own future class; Flow.with_options wants the base
            runner = cast(Any, DaskTaskRunner(address=settings.dask_address))
            on_cluster = _backfill_on_cluster.with_options(task_runner=runner)
            outcome.update(on_cluster(settings, days[1:]))
            rescore_task(ctx, [d for d in days if outcome[str(d)] == "succeeded"])
            return outcome
    return {str(day): _outcome(settings, day) for day in days}


def _ingest_ahead(ctx: Ctx, day: date) -> None:
    try:
        ingest_task.with_options(name="ingest-ahead")(ctx, day)
    except DatabaseError:
        raise  # an outage, not a bad day
    except Exception as err:  # the day's own run reports it, with the ledger row
        get_run_logger().warning("%s could not be ingested ahead: %s", day, err)


def _outcome(settings: Settings, day: date, reanalysis_version: str | None = None) -> str:
    STOP.check(f"before {day}")
    try:
        return produce_one_day(settings, day, reanalysis_version)
    except (*STOPPED, DatabaseError):
        raise  # a stop, or an outage every later day would meet too
    except Exception as err:  # one bad day must not stop the backfill
        get_run_logger().error("%s failed: %s", day, err)
        return f"failed: {err}"


@task(name="day", cache_policy=NO_CACHE)
def day_task(settings: Settings, day: date, reanalysis_version: str | None = None) -> str:
    """One backfill day on a Dask worker (its own smprod-day flow run, lock and ledger row)."""
    return _outcome(settings, day, reanalysis_version)


@flow(name="smprod-backfill-cluster", validate_parameters=False)
def _backfill_on_cluster(
    settings: Settings, days: list[date], reanalysis_version: str | None = None
) -> dict[str, str]:
    futures = [day_task.submit(settings, day, reanalysis_version) for day in days]
    return {str(day): future.result() for day, future in zip(days, futures, strict=True)}


def _reanalysis(ctx: Ctx, days: list[date]) -> dict[str, str]:
    """Reanalysis mode (backfill and reprocess): ``days`` in blocks of ``reanalysis_block_days``,
    each made with a model trained on the window around the block (:func:`_block_version`); a
    block whose model cannot be trained fails its days and the others go on. With a Dask
    scheduler a block's days run on the cluster and the validation windows are then recomputed
    in day order, as a backfill does."""
    from smprod.inputs.window import reanalysis_blocks

    settings, outcome = ctx.settings, {}
    for block in reanalysis_blocks(days, settings.reanalysis_block_days):
        STOP.check(f"before the reanalysis block {block[0]}..{block[-1]}")
        try:
            version = _block_version(ctx, block)
        except (*STOPPED, DatabaseError):
            raise
        except Exception as err:  # one block without a model must not stop the others
            get_run_logger().error("reanalysis %s..%s failed: %s", block[0], block[-1], err)
            outcome.update({str(day): f"failed: {err}" for day in block})
            continue
        ctx.close()
        if settings.dask_address:
            from prefect_dask import DaskTaskRunner

            runner = cast(Any, DaskTaskRunner(address=settings.dask_address))
            outcome.update(_backfill_on_cluster.with_options(task_runner=runner)(settings, block, version))
        else:
            outcome.update({str(day): _outcome(settings, day, version) for day in block})
    if settings.dask_address:
        rescore_task(ctx, [day for day in days if outcome.get(str(day)) == "succeeded"])
    return outcome


@task(name="rescore", cache_policy=NO_CACHE)
def rescore_task(ctx: Ctx, days: list[date]) -> None:
    """Recompute the validation windows of ``days`` in order (after days ran concurrently), and
    log each version's review metrics again from them (the days' own logs saw partial windows)."""
    from smprod.mlops.registry import client_for
    from smprod.validation.pipeline import ValidationRun, store_skill
    from smprod.validation.report import log_review

    client = client_for(ctx.tracking_uri)
    for day in sorted(days):
        run = ValidationRun()
        store_skill(ctx.engine, day, ctx.settings.validation_windows, ctx.settings.validation_min_n, run)
        for version in sorted({str(row["model_version"]) for row in run.metrics}):
            log_review(client, ctx.settings.model_name, version, run.metrics, day)


@flow(name="smprod-retrain")
@_cancel_on_stop
def retrain(end: date | None = None, settings: Settings | None = None) -> str:
    """Train on the window ending ``end`` (default yesterday) and apply the promotion rule."""
    from smprod.config import load_settings

    settings = settings or load_settings()
    with make_ctx(settings) as ctx:
        end = end or datetime.now(UTC).date() - timedelta(days=1)
        STOP.check(f"before training on the window ending {end}")
        result = train_task(ctx, end)
    return f"v{result.version}: {result.decision.reason}"


@task(
    name="find-updates",
    retries=NETWORK_RETRIES,
    retry_delay_seconds=exponential_backoff(backoff_factor=10),
    cache_policy=NO_CACHE,
)
def find_updates_task(ctx: Ctx, since: date | None) -> list[Update]:
    from smprod.inputs import ledger
    from smprod.ops.reprocess import find_reprocessing

    quarantined = {row["granule_id"] for row in ledger.granule_rows(ctx.engine, status="quarantined")}
    return find_reprocessing(ctx.layout, ctx.source(), ctx.settings.bbox, since, quarantined)


@flow(name="smprod-reprocess")
@_cancel_on_stop
def reprocess_updates(settings: Settings | None = None, since: date | None = None) -> dict[str, str]:
    """Produce again the published days (on or after ``since``) whose inputs improved.

    In reanalysis mode (setting ``training_mode``) those days are made as a reanalysis backfill
    makes them (:func:`_reanalysis`), otherwise with the champion.

    Returns:
        day -> ``"<status>: <why>"`` for every day it reprocessed (status as for a daily run,
        or ``failed: <error>``); days without better inputs are left alone and not listed.
    """
    from smprod.config import load_settings

    settings = settings or load_settings()
    logger = get_run_logger()
    with make_ctx(settings) as ctx:
        updates = find_updates_task(ctx, since)
        if updates and settings.training_mode == REANALYSIS:
            made = _reanalysis(ctx, [update.day for update in updates])
            return {str(u.day): f"{made[str(u.day)]}: {u.reason}" for u in updates}
    if not updates:
        logger.info("no published day%s has better inputs now", f" since {since}" if since else "")
    outcome: dict[str, str] = {}
    for update in updates:
        STOP.check(f"before reprocessing {update.day}")
        logger.info("reprocessing %s: %s", update.day, update.reason)
        try:
            status = produce_one_day(settings, update.day)
        except (*STOPPED, DatabaseError):
            raise  # a stop, or an outage every later day would meet too
        except Exception as err:  # one bad day must not stop the others
            logger.error("%s failed: %s", update.day, err)
            status = f"failed: {err}"
        outcome[str(update.day)] = f"{status}: {update.reason}"
    return outcome
