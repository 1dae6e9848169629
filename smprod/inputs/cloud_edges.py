"""Cloud-edge screening of MODIS LST: clear-sky pixels next to a cloud that read cold.

MOD11's cloud mask (MOD35) misses the thin fringes of clouds and their shadows; the pixels next
to a detected cloud then pass the LST QC rule with a value a few kelvin too cold (MOD11 C6.1
User's Guide, Wan: cloud contamination is the main error source of the clear-sky LST). To the
downscaling a cold pixel is a wet pixel, so every cloud fringe becomes a wet rim in that day's
1 km pattern, which no persistent-anomaly average removes on a cloudy region.

Masking a fixed buffer around every cloud costs the regions whose edges are clean (measured on
the accuracy suite: 0.803 -> 0.808 on plains-36, 0.623 -> 0.633 on irrigated-36; docs/models.md,
"Cloud-edge screening"), so the buffer is applied only where the granule shows the defect:
the clear pixels within :data:`EDGE_PIXELS` of a cloud must be colder than the clear pixels
farther than :data:`FAR_PIXELS` from any, each taken against its local clear-sky mean (a
Gaussian of :data:`CONTEXT_SIGMA_PIXELS`, so that large-scale gradients under the clouds do not
count), by more than :data:`COLD_EDGE_K`. On the suite's worlds that contrast is within
+-0.35 K where edges are clean and -1.2 to -2.1 K where they are not.

"Cloud" here is any land pixel without LST over the region (QC-rejected or not produced):
the screening runs on the region's warped mosaic of one platform's product, before Terra and
Aqua are averaged. Water (MCD12Q1's IGBP class 17, when the day has land cover) is not cloud,
so a coast that reads cool does not count as a cold edge; pixels next to a swath gap do, and
are masked only on a day whose edges are cold overall.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

#: Clear pixels within this many 1 km pixels (taxicab distance) of a cloud are the cloud's edge.
EDGE_PIXELS = 2
#: Clear pixels farther than this from any cloud are the reference the edge is compared with.
FAR_PIXELS = 4
#: Standard deviation (pixels) of the Gaussian local clear-sky mean each pixel is taken against.
CONTEXT_SIGMA_PIXELS = 5.0
#: Edge pixels colder than the far pixels by more than this (K) are masked: MOD11's best
#: accuracy class (LST error <= 1 K), well outside what clean edges show.
COLD_EDGE_K = 1.0
#: Fewest edge and far pixels for a contrast to be judged (fewer: nothing is masked).
MIN_PIXELS = 500


@dataclass(frozen=True)
class EdgeScreen:
    """What the screening of one LST field found.

    Attributes:
        contrast_k: mean local deviation of the edge pixels minus that of the far pixels (K);
            NaN when there were too few of either to judge.
        masked: pixels set to NaN (0 unless the edges were cold).
        edge: clear pixels at the cloud edges.
    """

    contrast_k: float
    masked: int
    edge: int

    def note(self, name: str) -> str:
        """The day file's ``missing`` note of a screened field (only when pixels were masked)."""
        return (
            f"{name}: {self.masked} clear pixels within {EDGE_PIXELS} km of a cloud masked "
            f"(cloud edges {-self.contrast_k:.1f} K colder than the clear sky around them)"
        )


def screen_cloud_edges(values: NDArray, water: NDArray | None = None) -> tuple[NDArray, EdgeScreen]:
    """``values`` (one platform's LST on the 1 km grid, NaN where none) with its cold cloud
    edges masked when its edges are cold (module docstring), and what was found. ``water``
    (True on water bodies): gaps there are not clouds."""
    clear = np.isfinite(values)
    cloud = ~clear if water is None else ~clear & ~np.asarray(water, dtype=bool)
    if not cloud.any() or not clear.any():
        return values, EdgeScreen(float("nan"), 0, 0)
    distance = ndimage.distance_transform_cdt(~cloud, metric="taxicab")  # to the nearest cloud
    edge = clear & (distance <= EDGE_PIXELS)
    far = clear & (distance > FAR_PIXELS)
    n_edge, n_far = int(edge.sum()), int(far.sum())
    if min(n_edge, n_far) < MIN_PIXELS:
        return values, EdgeScreen(float("nan"), 0, n_edge)
    deviation = values - _local_clear_mean(values, clear)
    contrast = float(deviation[edge].mean(dtype=np.float64) - deviation[far].mean(dtype=np.float64))
    if contrast >= -COLD_EDGE_K:
        return values, EdgeScreen(contrast, 0, n_edge)
    return np.where(edge, np.nan, values).astype(values.dtype), EdgeScreen(contrast, n_edge, n_edge)


def _local_clear_mean(values: NDArray, clear: NDArray[np.bool_]) -> NDArray[np.float32]:
    """Gaussian mean of the clear pixels around every pixel (normalised convolution).

    In float32: a kelvin-level contrast needs no more, and an 8 M-cell day's temporaries stay
    at half the memory (the day benchmark's peak rose by 211 MiB in float64).
    """
    weight = ndimage.gaussian_filter(clear.astype(np.float32), CONTEXT_SIGMA_PIXELS)
    total = ndimage.gaussian_filter(np.where(clear, values, 0).astype(np.float32), CONTEXT_SIGMA_PIXELS)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / weight
