"""The ``smprod`` command line.

Each module in :mod:`flows.commands` contributes its commands through a ``register(app)``
function; this keeps the entry point free of heavy imports so ``smprod --help`` is fast, and
lets each area own its commands. Expected failures (:class:`~smprod.errors.SmprodError`) end
with a one-paragraph message and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

from flows.startup import importing

with importing():  # typer, pydantic and the settings: long-lived objects only
    import typer

    import flows.commands
    from smprod.errors import ConfigError, DatabaseError, SmprodError, StoppedError

#: Exit codes: 0 ok, 1 a step failed, 2 bad usage or configuration, 3 the database is
#: unavailable (rerun when it is back), 128 + n stopped by signal n at a safe point (143 SIGTERM,
#: 130 Ctrl-C; rerun to continue).
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_DATABASE = 3

app = typer.Typer(
    name="smprod",
    help="smprod: daily 1 km soil moisture from SMAP, MODIS and IMERG (EASE-Grid 2.0).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register_commands() -> None:
    for module in sorted(pkgutil.iter_modules(flows.commands.__path__), key=lambda m: m.name):
        if module.name.startswith("_"):
            continue
        importlib.import_module(f"flows.commands.{module.name}").register(app)


@app.callback()
def _root() -> None:
    """smprod: daily 1 km soil moisture from SMAP, MODIS and IMERG (EASE-Grid 2.0)."""


with importing():
    _register_commands()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn smprod errors into a message and an exit code.

    Usage errors are handled by Typer (exit code 2); anything else that is not a
    :class:`SmprodError` is a bug and keeps its traceback.
    """
    try:
        app(args=argv)
    except StoppedError as err:
        typer.secho(
            f"{err}; run the same command again to continue (finished days are skipped; a day "
            "stopped part-way is cancelled in the run ledger and produced again)",
            err=True,
            fg=typer.colors.YELLOW,
        )
        sys.exit(exit_code(err))
    except SmprodError as err:
        typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
        sys.exit(exit_code(err))


def exit_code(err: SmprodError) -> int:
    """The exit code of an expected failure (see the constants above)."""
    from smprod.ops.stopping import exit_code as stopped_code

    if isinstance(err, StoppedError):
        return stopped_code(err.signum)
    if isinstance(err, DatabaseError):
        return EXIT_DATABASE
    return EXIT_CONFIG if isinstance(err, ConfigError) else EXIT_FAILED


if __name__ == "__main__":
    main()
