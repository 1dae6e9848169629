"""Writers of granules in the real formats: names, groups, SDS, dtypes, scale factors, fills, QC.

Attribute values are those of the real products (checked against ``../shared/realdata``: the
SPL3SMP v008 DMR, the MOD11A1 / MOD13A2 / MCD43A3 tiles, the IMERG V07 files, the ISMN
header + values files). Each writer takes plain arrays and a target path and writes atomically.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from smprod.inputs.readers.hdfeos import TILE_SIZE, sinusoidal_crs, tile_upper_left

SMAP_FILL = np.float32(-9999.0)
SMAP_GROUPS = (("Soil_Moisture_Retrieval_Data_AM", ""), ("Soil_Moisture_Retrieval_Data_PM", "_pm"))
#: pyhdf number types (SDC constants) by numpy dtype name.
_SDC_TYPES = {"uint8": 21, "int8": 20, "int16": 22, "uint16": 23, "int32": 24, "float32": 5}

# MODIS SDS attributes as in the real collection-6.1 tiles (MOD11 / MOD13 / MCD43 / MCD12 user guides).
LST_ATTRS: dict[str, Any] = {
    "units": "K",
    "valid_range": (7500, 65535),
    "_FillValue": 0,
    "scale_factor": 0.02,
    "add_offset": 0.0,
}
QC_LST_ATTRS: dict[str, Any] = {"units": "none", "valid_range": (0, 255)}
VI_ATTRS: dict[str, Any] = {
    "units": "NDVI",
    "valid_range": (-2000, 10000),
    "_FillValue": -3000,
    "scale_factor": 10000.0,
    "add_offset": 0.0,
}
VI_QUALITY_ATTRS: dict[str, Any] = {"units": "bit field", "valid_range": (0, 65534), "_FillValue": 65535}
RELIABILITY_ATTRS: dict[str, Any] = {"units": "rank", "valid_range": (0, 3), "_FillValue": -1}
ALBEDO_ATTRS: dict[str, Any] = {
    "units": "reflectance, no units",
    "valid_range": (0, 32767),
    "_FillValue": 32767,
    "scale_factor": 0.001,
    "add_offset": 0.0,
}
ALBEDO_QA_ATTRS: dict[str, Any] = {"units": "concatenated flags", "valid_range": (0, 254), "_FillValue": 255}
LC_ATTRS: dict[str, Any] = {"units": "class number", "valid_range": (1, 17), "_FillValue": 255}
#: DEFLATE level of each product's SDS, as the real collection-6/6.1 tiles in ``../shared/realdata``
#: carry it (``SDgetcompress``: MOD11A1 1, MOD13A2 5, MCD43A3 4; MYD11A1 is made by the same
#: MOD11 code as MOD11A1). Others (MCD12Q1): 5. The level changes the bytes, never the values.
DEFLATE_LEVELS: dict[str, int] = {"MOD11A1": 1, "MYD11A1": 1, "MOD13A2": 5, "MCD43A3": 4}
DEFLATE_LEVEL = 5


def deflate_level(product: str) -> int:
    """The DEFLATE level of ``product``'s tiles (:data:`DEFLATE_LEVELS`, else :data:`DEFLATE_LEVEL`)."""
    return DEFLATE_LEVELS.get(product, DEFLATE_LEVEL)


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary sibling that becomes ``target`` only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_smap(
    target: Path,
    am: tuple[NDArray, NDArray],
    pm: tuple[NDArray, NDArray],
    lat: NDArray,
    lon: NDArray,
    release: str,
    short_name: str,
) -> Path:
    """SPL3SMP / SPL3SMP_E HDF5: full global arrays; names, dtypes and attributes as the DMR.

    One function over 40 lines: it writes the file's groups and attributes in the order the
    product's DMR lists them, which reads best as one listing.
    """
    with atomic_path(target) as tmp, h5py.File(tmp, "w") as f:
        ident = f.create_group("Metadata/DatasetIdentification")
        ident.attrs["shortName"] = np.bytes_(short_name.encode())
        ident.attrs["CompositeReleaseID"] = np.bytes_(release.encode())
        for (group_name, sfx), (sm, flag) in zip(SMAP_GROUPS, (am, pm), strict=True):
            g = f.create_group(group_name)
            has = np.isfinite(sm)
            d = _create_deflated(
                g, "soil_moisture" + sfx, np.where(has, sm, SMAP_FILL).astype(np.float32, copy=False), 4
            )
            d.attrs.update(
                {
                    "long_name": np.bytes_(
                        b"Representative soil moisture measurement for the Earth based grid cell."
                    ),
                    "units": np.bytes_(b"cm**3/cm**3"),
                    "valid_min": np.float32(0.02),
                    "valid_max": np.float32(0.5),
                    "_FillValue": SMAP_FILL,
                }
            )
            q = _create_deflated(g, "retrieval_qual_flag" + sfx, flag.astype(np.uint16, copy=False))
            q.attrs.update(
                {
                    "_FillValue": np.uint16(65534),
                    "flag_masks": np.bytes_(b"1s, 2s, 4s, 8s"),
                    "flag_meanings": np.bytes_(
                        b"Retrieval_recommended Retrieval_attempted Retrieval_success FT_retrieval_success"
                    ),
                }
            )
            for name, values, vmin, vmax in (
                ("latitude", lat, -90.0, 90.0),
                ("longitude", lon, -180.0, 179.999),
            ):
                c = _create_deflated(
                    g, name + sfx, np.where(has, values, SMAP_FILL).astype(np.float32, copy=False)
                )
                c.attrs.update(
                    {
                        "_FillValue": SMAP_FILL,
                        "valid_min": np.float32(vmin),
                        "valid_max": np.float32(vmax),
                        "units": np.bytes_(b"degrees_north" if name == "latitude" else b"degrees_east"),
                    }
                )
    return target


def _create_deflated(group: h5py.Group, name: str, values: NDArray, level: int | None = None) -> h5py.Dataset:
    """``group.create_dataset(name, data=values, compression="gzip", compression_opts=level)``,
    its chunks compressed by :func:`_write_chunks` (the same dataset, the same values)."""
    dataset = group.create_dataset(
        name, shape=values.shape, dtype=values.dtype, compression="gzip", compression_opts=level
    )
    _write_chunks(dataset, values)
    return dataset


def struct_metadata(grid_name: str, h: int, v: int, n: int, fields: list[tuple[str, str]]) -> str:
    """HDF-EOS ``StructMetadata.0`` of one sinusoidal grid of ``n x n`` pixels on tile hHHvVV."""
    (x0, y0), (x1, y1) = tile_upper_left(h, v), tile_upper_left(h + 1, v + 1)
    objects = "".join(
        f'\t\t\tOBJECT=DataField_{i}\n\t\t\t\tDataFieldName="{name}"\n\t\t\t\tDataType={dtype}\n'
        f'\t\t\t\tDimList=("YDim:{grid_name}","XDim:{grid_name}")\n\t\t\tEND_OBJECT=DataField_{i}\n'
        for i, (name, dtype) in enumerate(fields, start=1)
    )
    return (
        "GROUP=SwathStructure\nEND_GROUP=SwathStructure\nGROUP=GridStructure\n\tGROUP=GRID_1\n"
        f'\t\tGridName="{grid_name}"\n\t\tXDim={n}\n\t\tYDim={n}\n'
        f"\t\tUpperLeftPointMtrs=({x0:.6f},{y0:.6f})\n\t\tLowerRightMtrs=({x1:.6f},{y1:.6f})\n"
        "\t\tProjection=GCTP_SNSOID\n\t\tProjParams=(6371007.181000,0,0,0,0,0,0,0,0,0,0,0,0)\n"
        "\t\tSphereCode=-1\n\t\tGridOrigin=HDFE_GD_UL\n\t\tGROUP=Dimension\n\t\tEND_GROUP=Dimension\n"
        f"\t\tGROUP=DataField\n{objects}\t\tEND_GROUP=DataField\n\t\tGROUP=MergedFields\n"
        "\t\tEND_GROUP=MergedFields\n\tEND_GROUP=GRID_1\nEND_GROUP=GridStructure\n"
        "GROUP=PointStructure\nEND_GROUP=PointStructure\nEND\n"
    )


_HDF_TYPE_NAMES = {"uint8": "DFNT_UINT8", "int8": "DFNT_INT8", "int16": "DFNT_INT16", "uint16": "DFNT_UINT16"}


def write_modis_tile(
    target: Path,
    grid_name: str,
    fields: dict[str, tuple[NDArray, dict[str, Any]]],
    h: int,
    v: int,
    level: int = DEFLATE_LEVEL,
) -> Path:
    """HDF4-EOS tile: SDS with attributes, DEFLATE compressed (``level``: the product's, see
    :data:`DEFLATE_LEVELS`), and the grid's StructMetadata.0.

    Every SDS is written whole, so the library is told not to pre-fill it with its fill value
    first (``SD_NOFILL``): the same file content without a pass over each tile.
    """
    from pyhdf.SD import SD, SDC

    n = next(iter(fields.values()))[0].shape[0]
    meta = struct_metadata(
        grid_name, h, v, n, [(k, _HDF_TYPE_NAMES[a.dtype.name]) for k, (a, _) in fields.items()]
    )
    with atomic_path(target) as tmp:
        sd = SD(str(tmp), SDC.WRITE | SDC.CREATE | SDC.TRUNC)
        sd.setfillmode(SDC.NOFILL)
        sd.attr("HDFEOSVersion").set(SDC.CHAR, "HDFEOS_V2.19")
        _set_text_attribute(sd, "StructMetadata.0", meta)
        for name, (values, attrs) in fields.items():
            sds = sd.create(name, _SDC_TYPES[values.dtype.name], values.shape)
            sds.setcompress(SDC.COMP_DEFLATE, level)
            sds.long_name = name
            for key, value in attrs.items():
                if key == "_FillValue":
                    sds.setfillvalue(value)
                elif key == "valid_range":
                    sds.setrange(*value)
                else:
                    setattr(sds, key, value)
            sds[:] = values
            sds.endaccess()
        sd.end()
    return target


#: pyhdf character buffers of long text attributes, by text (pyhdf fills one per call, a
#: character at a time: ~1300 Python steps for each tile's StructMetadata.0).
_TEXT_BUFFERS: dict[str, Any] = {}


def _set_text_attribute(sd: Any, name: str, text: str) -> None:
    """What ``sd.attr(name).set(SDC.CHAR, text)`` writes, the buffer built once per text."""
    from pyhdf import hdfext
    from pyhdf.SD import SDC

    setattr_ = getattr(hdfext, "SDsetattr", None)
    if setattr_ is None or not hasattr(hdfext, "array_byte") or not text.isascii():
        sd.attr(name).set(SDC.CHAR, text)
        return
    buf = _TEXT_BUFFERS.get(text)
    if buf is None:
        buf = hdfext.array_byte(len(text))
        for i, code in enumerate(text.encode("ascii")):
            buf[i] = code
        _TEXT_BUFFERS[text] = buf
    if setattr_(sd._id, name, SDC.CHAR, len(text), buf) < 0:
        raise OSError(f"cannot set HDF4 attribute {name}")


def tile_geometry(h: int, v: int, n: int) -> tuple[Any, Any]:
    """(CRS, affine transform) of tile hHHvVV with ``n`` pixels per side."""
    from affine import Affine

    x0, y0 = tile_upper_left(h, v)
    res = TILE_SIZE / n
    return sinusoidal_crs(), Affine(res, 0, x0, 0, -res, y0)


def write_imerg_daily(target: Path, precip_latlon: NDArray, day: date, run: str) -> Path:
    """IMERG V07 daily netCDF-4: ``precipitation`` (time, lon, lat) mm/day, 0.1 degree globe.

    Args:
        precip_latlon: (1800, 3600) north-up field, NaN = missing.
    """
    # (time, lon, lat) with lat south to north: one contiguous copy, the fill set in place
    values = np.array(np.flipud(precip_latlon).T[None, :, :], order="C")
    values[~np.isfinite(values)] = -9999.9
    values = values.astype(np.float32, copy=False)
    with atomic_path(target) as tmp:
        _write_imerg_layout(tmp, target.name, day, run)
        with h5py.File(tmp, "r+") as f:  # the values, once netCDF-4 has closed the file
            _write_chunks(f["precipitation"], values)
    return target


def _write_imerg_layout(path: Path, granule_id: str, day: date, run: str) -> None:
    """An IMERG daily file's dimensions, coordinates and empty ``precipitation`` variable."""
    import netCDF4

    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.setncattr(
            "FileHeader", f"AlgorithmID=3IMERGDL;AlgorithmVersion=3IMERGD_7.2;GranuleID={granule_id};"
        )
        for dim, size in (("time", 1), ("lon", 3600), ("lat", 1800), ("nv", 2)):
            nc.createDimension(dim, size)
        time = nc.createVariable("time", "i4", ("time",))
        time.units = "days since 1970-01-01 00:00:00Z"
        time.standard_name = "time"
        time[:] = [(day - date(1970, 1, 1)).days]
        lon = nc.createVariable("lon", "f4", ("lon",))
        lon.units, lon.standard_name = "degrees_east", "longitude"
        lon[:] = -179.95 + 0.1 * np.arange(3600)
        lat = nc.createVariable("lat", "f4", ("lat",))
        lat.units, lat.standard_name = "degrees_north", "latitude"
        lat[:] = -89.95 + 0.1 * np.arange(1800)
        var = nc.createVariable(
            "precipitation",
            "f4",
            ("time", "lon", "lat"),
            zlib=True,
            complevel=4,
            fill_value=np.float32(-9999.9),
        )
        var.units = "mm/day"
        var.long_name = f"Daily mean precipitation rate (combined microwave-IR) estimate ({run})"


#: Compressed chunks whose values are one value throughout (a globe's fill or dry land outside
#: the region), by (filters, chunk shape, values' shape in the chunk, dtype, value): the same in
#: every file, so compressed once per process.
_UNIFORM_CHUNKS: dict[tuple[Any, ...], bytes] = {}


def _filtered(chunk: NDArray, shuffle: bool, level: int) -> bytes:
    """A full chunk through HDF5's shuffle (if set) and deflate filters, in that order."""
    import zlib

    raw = np.ascontiguousarray(chunk)
    if shuffle and raw.dtype.itemsize > 1:
        raw = np.ascontiguousarray(raw.reshape(-1).view(np.uint8).reshape(-1, raw.dtype.itemsize).T)
    return zlib.compress(raw.tobytes(), level)


def _write_chunks(dataset: h5py.Dataset, values: NDArray) -> None:
    """Write all of ``values`` into the new, unwritten, chunked and deflated ``dataset``.

    What reads back is what ``dataset[...] = values`` writes; the chunks go through the
    dataset's own filters here (deflate, after shuffle if set), so the many chunks that hold one
    value (most of a global grid outside a small region) are compressed once per process and
    reused instead of once per file. Edge chunks are padded with the dataset's fill value, as
    the library pads them. Any other filter or layout is left to the library.
    """
    deflate = _deflate_of(dataset, values)
    if deflate is None:
        dataset[...] = values
        return
    shuffle, level = deflate
    chunks = dataset.chunks
    grid = tuple(-(-n // c) for n, c in zip(values.shape, chunks, strict=True))
    uniform, lows = _uniform_blocks(values, chunks, grid)
    fill = np.array(dataset.fillvalue, values.dtype)
    for index in np.ndindex(*grid):
        offset = tuple(i * c for i, c in zip(index, chunks, strict=True))
        part = values[tuple(slice(o, o + c) for o, c in zip(offset, chunks, strict=True))]
        key = None
        if uniform[index]:
            key = (
                shuffle,
                level,
                chunks,
                part.shape,
                values.dtype.str,
                lows[index].tobytes(),
                fill.tobytes(),
            )
            if key not in _UNIFORM_CHUNKS:
                _UNIFORM_CHUNKS[key] = _filtered(_padded_chunk(part, chunks, fill), shuffle, level)
            dataset.id.write_direct_chunk(offset, _UNIFORM_CHUNKS[key])
            continue
        dataset.id.write_direct_chunk(offset, _filtered(_padded_chunk(part, chunks, fill), shuffle, level))


def _deflate_of(dataset: h5py.Dataset, values: NDArray) -> tuple[bool, int] | None:
    """(shuffle, deflate level) of a chunked dataset whose filters are deflate, after shuffle if
    set, and whose shape and dtype are those of ``values``; None for any other layout."""
    plist = dataset.id.get_create_plist()
    pipeline = [plist.get_filter(i)[:3] for i in range(plist.get_nfilters())]
    codes = [code for code, _, _ in pipeline]
    shuffle = codes == [h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_DEFLATE]
    if (
        not (shuffle or codes == [h5py.h5z.FILTER_DEFLATE])
        or dataset.chunks is None
        or dataset.shape != values.shape
        or dataset.dtype != values.dtype
        or not pipeline[-1][2]
    ):
        return None
    return shuffle, int(pipeline[-1][2][0])


def _uniform_blocks(
    values: NDArray, chunks: tuple[int, ...], grid: tuple[int, ...]
) -> tuple[NDArray[np.bool_], NDArray]:
    """Per chunk of ``grid``: whether its part of ``values`` is one value throughout (equal min
    and max; False where NaN), and that minimum. The array is padded with its own edge values,
    so padding never makes a block look non-uniform."""
    padding = [(0, g * c - n) for g, c, n in zip(grid, chunks, values.shape, strict=True)]
    padded = np.pad(values, padding, "edge") if any(after for _, after in padding) else values
    blocks = padded.reshape([x for g, c in zip(grid, chunks, strict=True) for x in (g, c)])
    inner = tuple(range(1, 2 * len(chunks), 2))
    lows, highs = blocks.min(axis=inner), blocks.max(axis=inner)
    return lows == highs, lows


def _padded_chunk(part: NDArray, chunks: tuple[int, ...], fill: NDArray) -> NDArray:
    """A chunk's values at the chunk's full shape, an edge chunk padded with the fill value."""
    if part.shape == chunks:
        return part
    full = np.full(chunks, fill, part.dtype)
    full[tuple(slice(0, n) for n in part.shape)] = part
    return full


def write_geotiff(
    target: Path,
    values: NDArray,
    crs: Any,
    transform: Any,
    nodata: float | None = np.nan,
    dtype: str = "float32",
) -> Path:
    """A single-band GeoTIFF: float32 with NaN nodata (static layers, truth) or, as GOSIF is
    distributed, int16 without a nodata tag (its codes: :mod:`smprod.inputs.readers.sif`)."""
    import rasterio

    profile = {
        "driver": "GTiff",
        "height": values.shape[0],
        "width": values.shape[1],
        "count": 1,
        "dtype": dtype,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "compress": "deflate",
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with atomic_path(target) as tmp, rasterio.open(tmp, "w", **profile) as ds:
        ds.write(values.astype(dtype), 1)
    return target


def write_ismn(
    target: Path,
    network: str,
    station: str,
    lat: float,
    lon: float,
    elevation: float,
    depth: tuple[float, float],
    sensor: str,
    hourly: list[tuple[str, float, str]],
) -> Path:
    """ISMN "header + values" file: fixed-width header line, then ``date time value flag provider_flag``."""
    header = (
        f"{network:<10} {network:<15} {station:<17} {lat:9.5f} {lon:11.5f} {elevation:7.2f}"
        f" {depth[0]:7.2f} {depth[1]:7.2f} {sensor}"
    )
    lines = [header] + [f"{stamp} {value:8.4f} {flag} M" for stamp, value, flag in hourly]
    with atomic_path(target) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return target
