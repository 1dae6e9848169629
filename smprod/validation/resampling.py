"""Moving-block bootstrap over days and the number of independent days behind a figure.

Daily soil-moisture errors are autocorrelated: a wet spell the product misses stays missed for
days, and a station's calibration drifts slowly. Resampling single days would treat N persistent
days as N independent ones and give intervals that are too narrow. Here days are resampled in
blocks of consecutive calendar days (moving-block bootstrap, Künsch 1989, Ann. Statist. 17,
1217-1241; Lahiri 2003, "Resampling Methods for Dependent Data", ch. 2), with a block length
that grows with the lag-1 autocorrelation (Politis & White 2004, Econometric Rev. 23, 53-70,
with an AR(1) plug-in), and the number of independent days is N shrunk by the AR(1) variance
inflation (Wilks 2011, "Statistical Methods in the Atmospheric Sciences", 3rd ed., ch. 5).

Every bootstrap is seeded from :data:`BOOTSTRAP_SEED` and the name of the figure
(:func:`figure_rng`), so reruns give identical intervals; figures of one name (the variants of
one station and window) draw the same blocks of days.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
from numpy.typing import ArrayLike, NDArray
from threadpoolctl import threadpool_limits

from smprod.errors import MetricInputError

#: Replicates per bootstrap (Efron & Tibshirani 1993, "An Introduction to the Bootstrap", ch. 13
#: and 19: percentile intervals need about 1000).
BOOTSTRAP_REPLICATES = 1000
#: Two-sided confidence level of every interval.
CONFIDENCE = 0.95
#: Root of every bootstrap's random stream (any fixed value; changing it changes every interval).
BOOTSTRAP_SEED = 20
#: Fewest pairs of values one day apart to estimate a lag-1 autocorrelation from; below it the
#: series is treated as without persistence (r1 = 0).
MIN_LAG_PAIRS = 5
#: Largest lag-1 autocorrelation used (r1 -> 1 would make blocks and inflation infinite).
MAX_R1 = 0.99
#: Fewest blocks a bootstrap sample is made of (fewer blocks: every replicate resembles the sample).
MIN_BLOCKS = 3
#: A bootstrap interval needs this fraction of replicates with a defined statistic (R is undefined
#: for a replicate made of one constant stretch).
MIN_DEFINED_FRACTION = 0.9


def one_blas_thread() -> threadpool_limits:
    """A context with BLAS limited to one thread, for loops of many bootstraps.

    Each bootstrap's (replicates x days) by (days x k) product is too small to share between
    threads; on busy cores OpenBLAS's threads made it 8 times slower (8.7 ms against 1.1 ms
    measured). Entered once per loop: finding the BLAS libraries costs about 2 ms.
    """
    return threadpool_limits(limits=1, user_api="blas")


def figure_rng(*name: object) -> np.random.Generator:
    """The random stream of one figure, from :data:`BOOTSTRAP_SEED` and a stable hash of its name.

    ``zlib.crc32`` rather than :func:`hash`, whose value changes between Python processes.
    """
    key = zlib.crc32("|".join(str(part) for part in name).encode())
    return np.random.default_rng([BOOTSTRAP_SEED, key])


def lag1_autocorrelation(day_numbers: ArrayLike, values: ArrayLike) -> float:
    """Lag-1 autocorrelation of a daily series with gaps, from the pairs of values one day apart.

    r1 = mean over pairs (x_t - m)(x_{t+1} - m) / mean over days (x_t - m)^2, the usual estimator
    (Wilks 2011, ch. 3) with its numerator restricted to days whose next day has a value too.

    Args:
        day_numbers: integer day of each value (any origin), unique.
        values: the series, finite.

    Returns:
        r1, or 0.0 when fewer than :data:`MIN_LAG_PAIRS` pairs exist or the series is constant.
    """
    days = np.asarray(day_numbers, dtype=np.int64)
    x = np.asarray(values, dtype=np.float64)
    order = np.argsort(days)
    days, x = days[order], x[order]
    follows = np.diff(days) == 1
    # ptp, not the variance: a constant series has a variance of rounding noise (1e-35), not 0.
    if follows.sum() < MIN_LAG_PAIRS or np.ptp(x) == 0:
        return 0.0
    anomaly = x - x.mean()
    lagged = anomaly[:-1][follows] * anomaly[1:][follows]
    return float(np.mean(lagged) / np.mean(anomaly * anomaly))


def effective_days(n: int, r1: float) -> float:
    """Independent days behind N autocorrelated daily values: N (1 - r1) / (1 + r1).

    The AR(1) variance inflation of a mean (Wilks 2011, ch. 5). Negative r1 is taken as 0
    (alternating errors never count as more days than there are), r1 is capped at :data:`MAX_R1`.
    """
    r = min(max(r1, 0.0), MAX_R1)
    return n * (1.0 - r) / (1.0 + r)


def effective_days_for_correlation(n: int, r1_a: float, r1_b: float) -> float:
    """Independent pairs behind a correlation of two AR(1) series: N (1 - r_a r_b) / (1 + r_a r_b).

    Bretherton et al. 1999 (J. Climate 12, 1990-2009); the product of the two lag-1
    autocorrelations is taken in [0, :data:`MAX_R1`].
    """
    r = min(max(r1_a * r1_b, 0.0), MAX_R1)
    return n * (1.0 - r) / (1.0 + r)


def block_length(n_days: int, r1: float) -> int:
    """Moving-block length (days) for a statistic of ``n_days`` days with lag-1 autocorrelation r1.

    Politis & White 2004 give b = (2 G^2 / D)^(1/3) n^(1/3) with D = 4/3 g(0)^2 for this
    bootstrap; for an AR(1) series G / g(0) = 2 r1 / (1 - r1^2), hence
    b = (6 r1^2 / (1 - r1^2)^2)^(1/3) n^(1/3). At least 1 day and at most n / :data:`MIN_BLOCKS`.
    """
    if n_days < 1:
        raise MetricInputError(f"a bootstrap needs at least one day, got n_days={n_days}")
    r = min(max(r1, 0.0), MAX_R1)
    optimal = (6.0 * r * r / (1.0 - r * r) ** 2) ** (1.0 / 3.0) * n_days ** (1.0 / 3.0)
    return int(max(1, min(math.ceil(optimal), n_days // MIN_BLOCKS)))


def block_bootstrap_sums(
    sums: NDArray[np.float64],
    block: int,
    rng: np.random.Generator,
    replicates: int = BOOTSTRAP_REPLICATES,
) -> NDArray[np.float64]:
    """Moving-block bootstrap replicates of per-day sums.

    Each replicate concatenates ceil(n / block) blocks of ``block`` consecutive days, their first
    days drawn uniformly from 0 .. n - block, keeps the first n days (Künsch 1989) and adds up
    their rows of ``sums``. Block totals come from cumulative sums and the counts of drawn
    starts, so the cost does not grow with the block length.

    Args:
        sums: per-day sums, shape (n_days, k); days without data are rows of zeros.
        block: block length in days, 1..n_days.
        rng: the figure's random stream.
        replicates: how many replicates.

    Returns:
        Replicate totals, shape (replicates, k).

    Raises:
        MetricInputError: if ``block`` is not within 1..n_days.
    """
    n_days = sums.shape[0]
    if not 1 <= block <= n_days:
        raise MetricInputError(f"block length {block} must be within 1..{n_days} (the number of days)")
    per_sample = -(-n_days // block)
    n_starts = n_days - block + 1
    starts = rng.integers(0, n_starts, size=(replicates, per_sample))
    cumulative = np.vstack([np.zeros((1, sums.shape[1])), np.cumsum(sums, axis=0)])
    # Whole blocks: how often each start is drawn, times that block's total (one matrix product).
    flat = (starts[:, :-1] + n_starts * np.arange(replicates)[:, None]).ravel()
    drawn = np.bincount(flat, minlength=replicates * n_starts).reshape(replicates, n_starts)
    totals = drawn.astype(np.float64) @ (cumulative[block:] - cumulative[:n_starts])
    last = starts[:, -1]
    cut = n_days - block * (per_sample - 1)  # the last block is cut at n days
    return totals + cumulative[last + cut] - cumulative[last]


def percentile_interval(replicates: ArrayLike, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The percentile interval of bootstrap replicates (Efron & Tibshirani 1993, ch. 13).

    Returns:
        (low, high), or (NaN, NaN) when fewer than :data:`MIN_DEFINED_FRACTION` are finite.
    """
    values = np.asarray(replicates, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if values.size == 0 or finite.size < MIN_DEFINED_FRACTION * values.size:
        return math.nan, math.nan
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return float(low), float(high)


def day_index(day_numbers: ArrayLike) -> tuple[NDArray[np.int64], int]:
    """Each value's day as an index into the span first..last day, and the span's length."""
    days = np.asarray(day_numbers, dtype=np.int64)
    if days.size == 0:
        raise MetricInputError("no days to resample")
    first = int(days.min())
    return days - first, int(days.max()) - first + 1


def daily_means(
    index: NDArray[np.int64], values: NDArray[np.float64], n_days: int
) -> tuple[NDArray, NDArray]:
    """The mean of ``values`` on each day that has any, as (day indices, means)."""
    count = np.bincount(index, minlength=n_days)
    total = np.bincount(index, weights=values, minlength=n_days)
    present = np.flatnonzero(count)
    return present, total[present] / count[present]
