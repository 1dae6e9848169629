"""The inputs stage: official granule names and which granule is best (:mod:`.granules`), where
granules come from (:mod:`.sources`: the local archive or Earthdata), how each format is read
(:mod:`.readers`), the day's gridded input files (:mod:`.ingest`), the granule ledger
(:mod:`.ledger`) and the training window's cold start (:mod:`.window`).
"""
