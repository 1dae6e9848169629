"""In situ validation: ISMN stations, product/station matchups and skill metrics in PostgreSQL.

The stages, each in its own module:

- :mod:`~smprod.validation.stations`: find ISMN ``.stm`` files below ``insitu/`` folders, read
  them with :mod:`smprod.readers.ismn`, keep the top-5-cm sensors, reduce good (flag ``G``)
  hourly values to UTC daily means, upsert them.
- :mod:`~smprod.validation.matchups`: sample the product variants (mass-corrected,
  uncorrected, coarse SMAP, bilinear SMAP) at each station's cell, day by day.
- :mod:`~smprod.validation.metrics`: the metric formulas (N, R and p-value, bias, RMSE,
  ubRMSE, MAE), pure numpy/scipy.
- :mod:`~smprod.validation.windows`: rolling windows and meteorological seasons.
- :mod:`~smprod.validation.skill`: metrics per station, network and overall per window.
- :mod:`~smprod.validation.tables`: the SQLAlchemy models (created by the Alembic migration
  ``validation_0001``) and the idempotent upserts.
- :mod:`~smprod.validation.pipeline`: one validation run (ingest, matchups, metrics).
- :mod:`~smprod.validation.report`: printed table, MLflow summary and PNG plots.
"""
