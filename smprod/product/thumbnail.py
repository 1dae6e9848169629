"""The product thumbnail: a small PNG with a fixed, stated colour scale and deterministic bytes.

The colour scale is fixed (not stretched per day) so thumbnails of different days compare by eye:
viridis from :data:`VMIN` to :data:`VMAX` m3/m3, values beyond the ends take the end colours,
missing pixels are transparent. The scale is stated three times: drawn as a colour bar with its
end labels under the map, in the PNG ``tEXt`` chunks, and (by :mod:`smprod.product.provenance`) in the
provenance record. The image is built with Pillow alone (no timestamps, no software chunk), so the
same field always gives the same bytes.
"""

from __future__ import annotations

import functools
import io
import math

import numpy as np
from numpy.typing import NDArray

#: Largest side of the thumbnail in pixels (design: "thumbnail PNG (at most 600x600)").
MAX_SIDE = 600
#: Colour scale (m3/m3): 0 is oven-dry, 0.5 is the SPL3SMP ``soil_moisture`` valid_max.
VMIN = 0.0
VMAX = 0.5
COLORMAP = "viridis"
UNITS = "m3/m3"
#: Height in pixels of the colour-bar strip (bar + labels) under the map.
LEGEND_HEIGHT = 24


def colour_scale() -> dict[str, object]:
    """The colour scale as data, for the PNG text chunks and the provenance record."""
    return {"colormap": COLORMAP, "min": VMIN, "max": VMAX, "units": UNITS, "missing": "transparent"}


def render_thumbnail(values: NDArray) -> bytes:
    """PNG bytes of a soil-moisture field (m3/m3, NaN missing), at most :data:`MAX_SIDE` a side."""
    from PIL import Image, ImageDraw
    from PIL.PngImagePlugin import PngInfo

    small = _downsample(np.asarray(values, dtype=np.float64), MAX_SIDE, MAX_SIDE - LEGEND_HEIGHT)
    rgba = colourise(small)
    width = max(rgba.shape[1], 120)  # room for the legend labels on very narrow regions
    canvas = Image.new("RGBA", (width, rgba.shape[0] + LEGEND_HEIGHT), (255, 255, 255, 255))
    canvas.paste(Image.fromarray(rgba, mode="RGBA"), (0, 0))
    _draw_legend(ImageDraw.Draw(canvas), canvas.width, rgba.shape[0])
    info = PngInfo()
    for key, value in colour_scale().items():
        info.add_text(f"smprod:colour_scale:{key}", str(value))
    info.add_text("Description", f"soil moisture, {COLORMAP} {VMIN}-{VMAX} {UNITS}, missing transparent")
    out = io.BytesIO()
    canvas.save(out, format="PNG", pnginfo=info, optimize=False, compress_level=6)
    return out.getvalue()


def _downsample(values: NDArray[np.float64], max_width: int, max_height: int) -> NDArray[np.float64]:
    """Block mean of valid pixels by the smallest integer factor that fits (NaN-aware)."""
    rows, cols = values.shape
    factor = max(1, math.ceil(cols / max_width), math.ceil(rows / max_height))
    if factor == 1:
        return values
    pad_r, pad_c = -rows % factor, -cols % factor
    padded = np.pad(values, ((0, pad_r), (0, pad_c)), constant_values=np.nan)
    blocks = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor)
    valid = np.isfinite(blocks)
    count = valid.sum(axis=(1, 3))
    total = np.where(valid, blocks, 0.0).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


@functools.lru_cache(maxsize=8)
def lookup_table(colormap: str = COLORMAP) -> NDArray[np.uint8]:
    """The 256 RGBA colours of the scale, low to high (matplotlib's ``colormap``); computed once
    per colormap (every map tile is coloured with it) and read-only."""
    from matplotlib import colormaps

    table = (colormaps[colormap](np.linspace(0.0, 1.0, 256)) * 255).round().astype(np.uint8)
    table.setflags(write=False)
    return table


def colourise(
    values: NDArray, vmin: float = VMIN, vmax: float = VMAX, colormap: str = COLORMAP
) -> NDArray[np.uint8]:
    """RGBA (``values.shape + (4,)``) of a field on the fixed scale: ``vmin``..``vmax`` over the
    256 colours of :func:`lookup_table`, values beyond the ends the end colours, NaN transparent.
    The defaults are the product's soil-moisture scale (thumbnails and map tiles)."""
    values = np.asarray(values, dtype=np.float64)
    scaled = np.clip((values - vmin) / (vmax - vmin), 0.0, 1.0)
    index = np.where(np.isfinite(scaled), np.round(scaled * 255), 0).astype(np.intp)
    rgba = lookup_table(colormap)[index]
    rgba[~np.isfinite(values), 3] = 0
    return rgba


def _draw_legend(draw, width: int, top: int) -> None:  # type: ignore[no-untyped-def]
    """A horizontal colour bar over the full width with the end values as labels."""
    from PIL import ImageFont

    lut = lookup_table()
    bar_height = 8
    for x in range(width):
        colour = tuple(int(v) for v in lut[round(x / max(width - 1, 1) * 255)])
        draw.line([(x, top + 1), (x, top + bar_height)], fill=colour)
    font = ImageFont.load_default(size=11)
    draw.text((1, top + bar_height + 1), f"{VMIN:g}", fill=(0, 0, 0, 255), font=font)
    label = f"{VMAX:g} {UNITS}"
    text_width = draw.textlength(label, font=font)
    draw.text((width - text_width - 1, top + bar_height + 1), label, fill=(0, 0, 0, 255), font=font)
