"""The embedded stack: a real PostgreSQL (pgserver), an MLflow store in it, a local Prefect server.

Everything lives under ``<workdir>/stack`` (see :mod:`smprod.layout`), so a work directory is a
self-contained installation that `smprod stack up` starts with no manual steps and `down` stops.
Production sets ``SMPROD_DATABASE_URL``, ``SMPROD_MLFLOW_TRACKING_URI`` and
``SMPROD_PREFECT_API_URL`` instead, and none of this runs (see :mod:`flows.services`).

- PostgreSQL 16 from the ``pgserver`` wheel, data in ``stack/postgres``, reached through a unix
  socket only (no TCP port to collide with). It keeps running after the command that started it
  exits; later commands attach to it. Databases: ``smprod`` (our schema, Alembic) and ``mlflow``
  (MLflow's tracking and registry store).
- MLflow: the tracking URI is the ``mlflow`` database; artifacts go to ``stack/mlflow-artifacts``
  (experiments are created with that artifact location, see :mod:`smprod.mlops.tracking`).
- Prefect: ``prefect server start`` on 127.0.0.1, as a detached process whose pid, port and URL
  are kept in ``stack/state.json``; its log is ``logs/prefect-server.log``. Its database is
  SQLite under ``stack/prefect``: the Prefect server's migrations need the ``pg_trgm``
  extension, which the pgserver build does not ship (tried: "extension pg_trgm is not
  available"). A production Prefect server uses a full PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from smprod import db
from smprod.errors import StackError
from smprod.layout import WorkLayout

if TYPE_CHECKING:
    from types import ModuleType


def import_pgserver() -> ModuleType:
    """The pgserver module, imported without its warning about XDG_RUNTIME_DIR: pgserver's class
    body asks platformdirs for a runtime directory it never uses here (our data directory is
    given), and every command that touched the stack printed the warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver
    return pgserver


DATABASES = ("smprod", "mlflow")
DEFAULT_PREFECT_PORT = 4200
PREFECT_START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Endpoints:
    """Where the services are. ``prefect_api_url`` None means Prefect's ephemeral mode."""

    database_url: str
    mlflow_tracking_uri: str
    mlflow_artifact_root: str
    prefect_api_url: str | None


@dataclass(frozen=True)
class PartStatus:
    """One line of ``smprod stack status``."""

    name: str
    running: bool
    detail: str


class EmbeddedStack:
    """The services of one work directory."""

    def __init__(self, workdir: Path) -> None:
        self.layout = WorkLayout(Path(workdir))
        self.root = self.layout.stack
        self.pgdata = self.root / "postgres"
        self.artifacts = self.root / "mlflow-artifacts"
        self.prefect_home = self.root / "prefect"
        self.state_file = self.root / "state.json"

    # PostgreSQL -------------------------------------------------------------------------------

    def postgres_socket_dir(self) -> Path | None:
        """The unix-socket directory of a running server, from ``postmaster.pid`` (None if down)."""
        pidfile = self.pgdata / "postmaster.pid"
        if not pidfile.exists():
            return None
        lines = pidfile.read_text().splitlines()
        if len(lines) < 5 or not _pid_alive(int(lines[0])):
            return None
        return Path(lines[4])

    def database_url(self, name: str, driver: str = "psycopg") -> str:
        """URL of database ``name`` on the running embedded server."""
        socket_dir = self.postgres_socket_dir()
        if socket_dir is None:
            raise StackError(f"the embedded PostgreSQL in {self.pgdata} is not running: smprod stack up")
        return f"postgresql+{driver}://postgres@/{name}?host={quote(str(socket_dir), safe='/')}"

    def up_postgres(self) -> None:
        """Start PostgreSQL if needed, create the databases and migrate ours (idempotent)."""
        pgserver = import_pgserver()

        self.root.mkdir(parents=True, exist_ok=True)
        try:
            server = pgserver.get_server(self.pgdata, cleanup_mode=None)
            if self.postgres_socket_dir() is None:
                # pgserver keeps one handle per data directory and process and hands it out again
                # without looking: after an outage (a stop, a crash) it would stay down. Drop it
                # and attach anew, which starts the server (a long-lived process recovers).
                pgserver.PostgresServer._instances.pop(self.pgdata.resolve(), None)
                server = pgserver.get_server(self.pgdata, cleanup_mode=None)
        except Exception as err:  # pgserver raises plain subprocess/assert errors
            raise StackError(
                f"PostgreSQL did not start in {self.pgdata}: {err} (log: {self.pgdata / 'log'})"
            ) from err
        del server  # attached; the server outlives this process (cleanup_mode=None)
        self._create_databases()
        db.upgrade(self.database_url("smprod"))

    def _create_databases(self) -> None:
        import sqlalchemy as sa

        engine = db.make_engine(self.database_url("postgres")).execution_options(isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            existing = set(conn.execute(sa.text("SELECT datname FROM pg_database")).scalars())
            for name in DATABASES:
                if name not in existing:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        engine.dispose()

    def down_postgres(self) -> None:
        """Stop PostgreSQL (fast shutdown; data stays)."""
        import_pgserver()  # the package first, quietly
        from pgserver._commands import pg_ctl

        if self.postgres_socket_dir() is None:
            return
        user = "pgserver" if os.geteuid() == 0 else None
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=user)

    # Prefect ----------------------------------------------------------------------------------

    def prefect_url(self) -> str | None:
        """API URL of the running Prefect server, or None."""
        state = self._state().get("prefect")
        if not state or not _pid_alive(int(state["pid"])):
            return None
        return str(state["url"]) if _healthy(str(state["url"]) + "/health") else None

    def up_prefect(self, port: int | None = None) -> str:
        """Start the Prefect server (detached) unless it runs; return its API URL."""
        running = self.prefect_url()
        if running:
            return running
        port = port or _free_port(DEFAULT_PREFECT_PORT)
        url = f"http://127.0.0.1:{port}/api"
        self.layout.logs.mkdir(parents=True, exist_ok=True)
        log_path = self.layout.logs / "prefect-server.log"
        command = [sys.executable, "-m", "prefect", "server", "start"]
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [*command, "--host", "127.0.0.1", "--port", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.prefect_server_env(),
                start_new_session=True,  # survives the command that started it
            )
        self._write_state({"prefect": {"pid": process.pid, "port": port, "url": url}})
        deadline = time.monotonic() + PREFECT_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StackError(f"the Prefect server exited with {process.returncode}; see {log_path}")
            if _healthy(url + "/health"):
                return url
            time.sleep(1.0)
        raise StackError(
            f"the Prefect server did not answer at {url} within {PREFECT_START_TIMEOUT_S} s; see {log_path}"
        )

    def prefect_server_env(self) -> dict[str, str]:
        """Environment of the Prefect server process: its home and its SQLite database."""
        env = dict(os.environ)
        env.pop("PREFECT_API_URL", None)
        env["PREFECT_HOME"] = str(self.prefect_home)
        sqlite = self.prefect_home / "prefect.db"
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{sqlite}"
        env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
        env["PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT"] = "false"
        return env

    def down_prefect(self) -> None:
        """Stop the Prefect server and its children."""
        state = self._state().get("prefect")
        if state and _pid_alive(int(state["pid"])):
            os.killpg(int(state["pid"]), signal.SIGTERM)
            for _ in range(60):
                if not _pid_alive(int(state["pid"])):
                    break
                time.sleep(0.5)
            else:
                os.killpg(int(state["pid"]), signal.SIGKILL)
        self._write_state({})

    # The whole stack ----------------------------------------------------------------------------

    def up(self, prefect: bool = True, prefect_port: int | None = None) -> Endpoints:
        """Start every part (idempotent) and return the endpoints."""
        self.up_postgres()
        self.artifacts.mkdir(parents=True, exist_ok=True)
        api = self.up_prefect(prefect_port) if prefect else self.prefect_url()
        return self.endpoints(api)

    def endpoints(self, prefect_api_url: str | None) -> Endpoints:
        return Endpoints(
            database_url=self.database_url("smprod"),
            mlflow_tracking_uri=self.database_url("mlflow"),
            mlflow_artifact_root=self.artifacts.as_uri(),
            prefect_api_url=prefect_api_url,
        )

    def status(self) -> list[PartStatus]:
        """What runs, with the URLs and the commands to look at it."""
        socket_dir = self.postgres_socket_dir()
        parts = [PartStatus("postgresql", socket_dir is not None, f"data {self.pgdata}, socket {socket_dir}")]
        if socket_dir is not None:
            tracking = self.database_url("mlflow")
            ui = (
                f"mlflow ui --backend-store-uri '{tracking}' "
                f"--default-artifact-root {self.artifacts.as_uri()} --host 127.0.0.1 --port 5000"
            )
            parts.append(PartStatus("mlflow", True, f"tracking {tracking}\n    review: {ui}"))
        else:
            parts.append(PartStatus("mlflow", False, "needs postgresql"))
        url = self.prefect_url()
        detail = (
            f"API {url}, UI {url.removesuffix('/api')}"
            if url
            else "not running (flows use the ephemeral API)"
        )
        parts.append(PartStatus("prefect", url is not None, detail))
        return parts

    def down(self) -> None:
        """Stop Prefect, then PostgreSQL."""
        self.down_prefect()
        self.down_postgres()

    def _state(self) -> dict:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError):
            return {}

    def _write_state(self, state: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise StackError("no free TCP port on 127.0.0.1 for the Prefect server")
