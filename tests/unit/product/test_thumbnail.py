"""The thumbnail: size limit, fixed colour scale stated in the PNG, transparency, determinism."""

from __future__ import annotations

import io

import numpy as np
from numpy.testing import assert_array_equal
from PIL import Image

from smprod.product.thumbnail import LEGEND_HEIGHT, MAX_SIDE, VMAX, VMIN, colour_scale, render_thumbnail


def _open(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def test_large_field_is_reduced_to_at_most_600_px() -> None:
    field = np.random.default_rng(0).uniform(0, 0.5, (1300, 2500))
    image = _open(render_thumbnail(field))
    assert max(image.size) <= MAX_SIDE
    assert image.size[0] >= MAX_SIDE // 2


def test_colour_scale_is_stated_in_the_png_text() -> None:
    image = _open(render_thumbnail(np.full((50, 60), 0.2)))
    assert image.text["smprod:colour_scale:colormap"] == "viridis"
    assert float(image.text["smprod:colour_scale:min"]) == VMIN
    assert float(image.text["smprod:colour_scale:max"]) == VMAX
    assert image.text["smprod:colour_scale:units"] == "m3/m3"
    assert colour_scale()["max"] == VMAX


def test_scale_is_fixed_and_missing_pixels_are_transparent() -> None:
    field = np.full((40, 130), 0.25)
    field[:, :10] = np.nan
    field[:, 10:20] = VMAX + 0.3  # beyond the scale: end colour, not a re-stretch
    field[:, 20:30] = VMAX
    pixels = np.asarray(_open(render_thumbnail(field)).convert("RGBA"))
    assert_array_equal(pixels[5, :10, 3], 0)
    assert_array_equal(pixels[5, 15], pixels[5, 25])
    mid = pixels[5, 60]
    # viridis at 0.5 of the scale is a teal (green and blue above red)
    assert mid[1] > mid[0] and mid[2] > mid[0]
    assert pixels.shape[0] == 40 + LEGEND_HEIGHT


def test_same_field_gives_the_same_bytes() -> None:
    field = np.random.default_rng(3).uniform(0, 0.5, (200, 300))
    assert render_thumbnail(field) == render_thumbnail(field.copy())
