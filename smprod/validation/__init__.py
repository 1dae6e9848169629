"""In situ validation: ISMN stations, product/station matchups and skill metrics in PostgreSQL.

The stages, each in its own module:

- :mod:`~smprod.validation.stations`: find ISMN ``.stm`` files below ``insitu/`` folders, read
  them with :mod:`smprod.inputs.readers.ismn`, keep the top-5-cm sensors, reduce good (flag ``G``)
  hourly values to UTC daily means, upsert them.
- :mod:`~smprod.validation.matchups`: sample the product variants (mass-corrected,
  uncorrected, coarse SMAP, bilinear SMAP) at each station's cell, day by day.
- :mod:`~smprod.validation.metrics`: the metric formulas (N, R and p-value, bias, RMSE,
  ubRMSE, MAE) and their 95 % intervals and independent days, pure numpy/scipy.
- :mod:`~smprod.validation.resampling`: the moving-block bootstrap over days, lag-1
  autocorrelation and the independent-days formula the intervals rest on.
- :mod:`~smprod.validation.collocation`: triple collocation, the random error of the model
  output, SMAP and the stations per network and overall.
- :mod:`~smprod.validation.windows`: rolling windows and meteorological seasons.
- :mod:`~smprod.validation.skill`: metrics per station, network and overall per window.
- :mod:`~smprod.validation.tables`: the SQLAlchemy models (created by the Alembic migrations
  ``validation_0001`` to ``validation_0003``) and the idempotent upserts.
- :mod:`~smprod.validation.pipeline`: one validation run (ingest, matchups, metrics, TC).
- :mod:`~smprod.validation.report`: printed tables, MLflow summary and PNG plots.
"""
