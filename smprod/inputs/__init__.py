"""The inputs stage: from official granules to the day's gridded input files.

- :mod:`.granules`: the one grammar of official granule names (:class:`~.granules.GranuleName`)
  and which granule of a slot wins;
- :mod:`.sources`: where granules come from (the local archive, or Earthdata into it);
- :mod:`.readers`: one reader per format, dispatched on the parsed name;
- :mod:`.dayfiles`: the day-input contract, ``inputs/YYYY/MM/DD/{fine,coarse}.nc`` (variables,
  combination rules, attributes and fingerprint, the atomic write, :class:`~.dayfiles.InputStore`);
- :mod:`.ingest`: one day from granules to those files (which granules, read, grid, reuse);
- :mod:`.ledger`: the granule ledger and quarantine;
- :mod:`.window`: the training window's cold start.
"""
