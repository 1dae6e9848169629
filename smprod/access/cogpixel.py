"""One pixel of a product COG, read with the standard library (no GDAL, no numpy).

A point series reads one pixel of each of a day's three COGs on every day. Through GDAL that is
an open (about 1 ms) and the inflating of the whole 512 x 512 tile holding the pixel, and the
command imports rasterio for it. Here the file's first IFD is parsed with :mod:`struct`, the
tile's DEFLATE stream is inflated only up to the end of the pixel's row (:mod:`zlib` stops there:
on average half the tile) and the TIFF predictor is undone for that row's bytes alone. The value
is the one GDAL reads (``tests/unit/access/test_cogpixel.py`` compares every pixel of real COGs).

Only the layout :mod:`smprod.product.cog` writes is read this way: a classic TIFF, one band,
tiled, DEFLATE or uncompressed, ``uint8`` with predictor 1 or 2 or ``float32`` with predictor 1
or 3, georeferenced by a pixel scale and one tie point (pixel-is-area). Anything else (another
layout, a damaged or truncated file, a sparse tile, a file on another grid) is
:class:`UnsupportedFileError`, and the caller reads the day through the product contract
(:func:`smprod.product.read.read_layers`), which gives the answer or the error GDAL gives.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

#: Bytes read at the start of a file: a COG keeps its IFDs and their arrays there.
HEAD_BYTES = 16384
#: TIFF tags used (TIFF 6.0; GeoTIFF 1.1 for the model tags).
SUBFILE, WIDTH, LENGTH, BITS, COMPRESSION, SAMPLES, PLANAR, PREDICTOR = 254, 256, 257, 258, 259, 277, 284, 317
TILE_WIDTH, TILE_LENGTH, TILE_OFFSETS, TILE_COUNTS, SAMPLE_FORMAT = 322, 323, 324, 325, 339
PIXEL_SCALE, TIEPOINT, MODEL_TRANSFORM, GEOKEYS = 33550, 33922, 34264, 34735
#: Compression codes read: none, DEFLATE (Adobe), DEFLATE (old code).
NONE, DEFLATE, DEFLATE_OLD = 1, 8, 32946
#: GeoTIFF ``GTRasterTypeGeoKey`` and its pixel-is-point value (GDAL shifts the transform then).
RASTER_TYPE_KEY, PIXEL_IS_POINT = 1025, 2
#: TIFF field type -> struct code of one value.
FIELD_TYPES = {1: "B", 3: "H", 4: "I", 12: "d", 16: "Q"}
#: (bits per sample, sample format) -> struct code of a sample, and the predictors it may have.
SAMPLE_TYPES = {(8, 1): ("B", (1, 2)), (32, 3): ("f", (1, 3))}


class UnsupportedFileError(Exception):
    """The file is not read here (layout, damage, grid): read it through the product contract."""


@dataclass(frozen=True)
class CogLayout:
    """What the first IFD of a COG says about its full-resolution image.

    Attributes:
        shape: rows, columns.
        transform: the affine transform of the pixel corners, in :class:`affine.Affine`'s order
            ``(dx, 0, x0, 0, -dy, y0)``.
        tile: tile rows, tile columns.
        offsets, counts: file offset and byte count of each tile, row by row.
        sample: struct code of a sample (``B`` or ``f``).
        predictor: TIFF predictor (1 none, 2 horizontal, 3 floating point).
        compressed: DEFLATE (else stored as it is).
        order: struct byte order of the file (``<`` or ``>``).
    """

    shape: tuple[int, int]
    transform: tuple[float, float, float, float, float, float]
    tile: tuple[int, int]
    offsets: tuple[int, ...]
    counts: tuple[int, ...]
    sample: str
    predictor: int
    compressed: bool
    order: str


def read_pixel(path: Path, row: int, col: int, shape: tuple[int, int], transform: tuple[float, ...]) -> float:
    """The value of pixel (``row``, ``col``) of the COG at ``path``, which must be of ``shape``
    with a transform within 1e-6 of ``transform`` (``Affine`` order, as ``tuple(affine)[:6]``)
    in each coefficient, the check :func:`smprod.product.read.read_layers` makes.

    Raises:
        UnsupportedFileError: for anything :func:`smprod.product.read.read_layers` is to decide (see the
            module docstring), an unreadable file included.
    """
    try:
        with open(path, "rb") as file:
            head = file.read(HEAD_BYTES)
            layout = cog_layout(file, head)
            if layout.shape != shape or not _close(layout.transform, transform):
                raise UnsupportedFileError(f"{path}: not on the expected grid")
            if not (0 <= row < shape[0] and 0 <= col < shape[1]):
                raise UnsupportedFileError(f"{path}: pixel {row}, {col} outside the file")
            return _pixel(file, layout, row, col)
    except (OSError, ValueError, struct.error, zlib.error, KeyError, IndexError) as err:
        raise UnsupportedFileError(f"{path}: {err}") from err


def cog_layout(file: object, head: bytes) -> CogLayout:
    """The :class:`CogLayout` of the file's first IFD (``file`` an open binary file, ``head``
    its first bytes).

    Raises:
        UnsupportedFileError: if the file is not a classic TIFF of the layout read here.
    """
    if head[:4] == b"II*\0":
        order = "<"
    elif head[:4] == b"MM\0*":
        order = ">"
    else:
        raise UnsupportedFileError("not a classic TIFF")
    tags = _ifd(file, head, order, struct.unpack_from(order + "I", head, 4)[0])
    bits, fmt = _one(tags, BITS), _one(tags, SAMPLE_FORMAT, 1)
    sample, predictors = SAMPLE_TYPES.get((bits, fmt), ("", ()))
    predictor, compression = _one(tags, PREDICTOR, 1), _one(tags, COMPRESSION, NONE)
    if (
        predictor not in predictors
        or compression not in (NONE, DEFLATE, DEFLATE_OLD)
        or _one(tags, SAMPLES, 1) != 1
        or _one(tags, PLANAR, 1) != 1
        or _one(tags, SUBFILE, 0) != 0
        or MODEL_TRANSFORM in tags
        or _pixel_is_point(tags)
    ):
        raise UnsupportedFileError("not the product COG layout")
    (scale_x, scale_y, *_), tiepoint = tags[PIXEL_SCALE], tags[TIEPOINT]
    if len(tiepoint) != 6:
        raise UnsupportedFileError("not one tie point")
    col0, row0, _, x, y, _ = tiepoint
    transform = (scale_x, 0.0, x - col0 * scale_x, 0.0, -scale_y, y + row0 * scale_y)  # as GDAL
    offsets, counts = tuple(tags[TILE_OFFSETS]), tuple(tags[TILE_COUNTS])
    if len(offsets) != len(counts) or 0 in counts:
        raise UnsupportedFileError("sparse or inconsistent tiles")
    shape, tile = (_one(tags, LENGTH), _one(tags, WIDTH)), (_one(tags, TILE_LENGTH), _one(tags, TILE_WIDTH))
    return CogLayout(shape, transform, tile, offsets, counts, sample, predictor, compression != NONE, order)


def _ifd(file: object, head: bytes, order: str, offset: int) -> dict[int, tuple]:
    """Tag -> values of the IFD at ``offset`` (only the field types of :data:`FIELD_TYPES`)."""
    (count,) = struct.unpack(order + "H", _bytes(file, head, offset, 2))
    entries = _bytes(file, head, offset + 2, 12 * count)
    tags = {}
    for n in range(count):
        tag, kind, number, inline = struct.unpack_from(order + "HHI4s", entries, 12 * n)
        code = FIELD_TYPES.get(kind)
        if code is None:
            continue
        size = struct.calcsize(code) * number
        data = inline if size <= 4 else _bytes(file, head, struct.unpack(order + "I", inline)[0], size)
        tags[tag] = struct.unpack_from(f"{order}{number}{code}", data)
    return tags


def _bytes(file: object, head: bytes, offset: int, size: int) -> bytes:
    """``size`` bytes at ``offset``: from the head when it holds them, else read."""
    if offset + size <= len(head):
        return head[offset : offset + size]
    data = os.pread(file.fileno(), size, offset)  # type: ignore[attr-defined]
    if len(data) != size:
        raise UnsupportedFileError("truncated")
    return data


def _one(tags: dict[int, tuple], tag: int, default: int | None = None) -> int:
    values = tags.get(tag)
    if values is None:
        if default is None:
            raise UnsupportedFileError(f"tag {tag} missing")
        return default
    if len(values) != 1:
        raise UnsupportedFileError(f"tag {tag} has {len(values)} values")
    return int(values[0])


def _pixel_is_point(tags: dict[int, tuple]) -> bool:
    """Whether the GeoTIFF keys say pixel-is-point (keys: 4 shorts of header, then 4 a key)."""
    keys = tags.get(GEOKEYS, ())
    for n in range(4, len(keys) - 3, 4):
        key, location, _, value = keys[n : n + 4]
        if key == RASTER_TYPE_KEY:
            return location != 0 or value == PIXEL_IS_POINT
    return False


def _close(found: tuple[float, ...], expected: tuple[float, ...]) -> bool:
    """Each coefficient within 1e-6 (as ``Affine.almost_equals(precision=1e-6)``)."""
    if len(found) != 6 or len(expected) != 6:
        return False
    return all(abs(a - b) < 1e-6 for a, b in zip(found, expected, strict=True))


def _pixel(file: object, layout: CogLayout, row: int, col: int) -> float:
    """Inflate the tile holding the pixel up to the end of its row, undo the predictor there."""
    (tile_rows, tile_cols), width = layout.tile, layout.shape[1]
    across = -(-width // tile_cols)
    index = (row // tile_rows) * across + col // tile_cols
    size = struct.calcsize(layout.sample)
    row_bytes = tile_cols * size
    needed = (row % tile_rows + 1) * row_bytes
    data = _bytes(file, b"", layout.offsets[index], layout.counts[index])
    if layout.compressed:
        data = zlib.decompressobj().decompress(data, needed)
    if len(data) < needed:
        raise UnsupportedFileError("tile shorter than its rows")
    line, c = data[needed - row_bytes : needed], col % tile_cols
    if layout.predictor == 1:
        return struct.unpack_from(layout.order + layout.sample, line, c * size)[0]
    if layout.predictor == 2:  # horizontal differencing of bytes (uint8 only, see SAMPLE_TYPES)
        return sum(line[: c + 1]) % 256
    # floating point (TIFF Technical Note 3): the row's bytes differenced, as planes of the
    # samples' bytes, most significant plane first whatever the file's byte order
    planes = bytes(sum(line[: plane * tile_cols + c + 1]) % 256 for plane in range(size))
    return struct.unpack(">" + layout.sample, planes)[0]
