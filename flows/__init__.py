"""Prefect flows and the ``smprod`` command line; they only wire library calls."""
