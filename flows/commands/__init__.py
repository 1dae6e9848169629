"""Command modules of the ``smprod`` CLI; each exposes ``register(app: typer.Typer)``."""
