"""Operations: the production-run ledger and day locks (:mod:`.runs`), which published days to
reprocess (:mod:`.reprocess`), scale-out on Dask (:mod:`.scaleout`), graceful stops
(:mod:`.stopping`) and orphaned flow runs (:mod:`.orphans`).
"""
