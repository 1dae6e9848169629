"""The demo's plan: which synthetic days to write, which to train on, which to produce.

The demo writes a synthetic archive, ingests a training window, trains and registers a model,
then produces ``days`` product days through the same flows as production. Lagged predictors
need :data:`smprod.inputs.dayfiles.LAG_DAYS` (8) days of SMAP before a day, so the archive starts
that many days before the training window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from smprod.inputs.dayfiles import LAG_DAYS

#: First day of the synthetic archive (a fixed date: demo output is reproducible).
DEMO_START = date(2024, 5, 1)
#: Training window of the demo (shorter than production's default, to stay within minutes).
DEMO_TRAINING_DAYS = 30
DEMO_SEED = 42


@dataclass(frozen=True)
class DemoPlan:
    archive_start: date
    archive_days: int
    training_days: list[date]
    product_days: list[date]


def demo_plan(
    product_days: int, training_days: int = DEMO_TRAINING_DAYS, start: date = DEMO_START
) -> DemoPlan:
    """Archive, training and product days for a demo of ``product_days`` days."""
    first_training = start + timedelta(days=LAG_DAYS)
    training = [first_training + timedelta(days=k) for k in range(training_days)]
    first_product = training[-1] + timedelta(days=1)
    products = [first_product + timedelta(days=k) for k in range(product_days)]
    return DemoPlan(start, LAG_DAYS + training_days + product_days, training, products)
