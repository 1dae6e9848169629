"""Writers of small granules with the exact structure of the real formats, for reader tests.

The real samples in ``../shared/realdata`` prove the readers parse real files; these tiny files
let tests set chosen values (QC bits, fills, AM/PM combinations) that the samples lack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from smprod.inputs.readers.hdfeos import tile_upper_left

#: HDF4 number types of pyhdf (SDC constants) by numpy dtype.
_SDC_TYPES = {"uint8": 21, "int8": 20, "int16": 22, "uint16": 23, "int32": 24, "float32": 5}


def struct_metadata(grid_name: str, h: int, v: int, n: int, fields: list[str]) -> str:
    """A ``StructMetadata.0`` text for one sinusoidal grid of ``n x n`` pixels on tile hHHvVV."""
    (x0, y0), (x1, y1) = tile_upper_left(h, v), tile_upper_left(h + 1, v + 1)
    objects = "".join(
        f'\t\t\tOBJECT=DataField_{i}\n\t\t\t\tDataFieldName="{name}"\n\t\t\t\tDataType=DFNT_UINT16\n'
        f'\t\t\t\tDimList=("YDim","XDim")\n\t\t\tEND_OBJECT=DataField_{i}\n'
        for i, name in enumerate(fields, start=1)
    )
    return (
        "GROUP=SwathStructure\nEND_GROUP=SwathStructure\nGROUP=GridStructure\n\tGROUP=GRID_1\n"
        f'\t\tGridName="{grid_name}"\n\t\tXDim={n}\n\t\tYDim={n}\n'
        f"\t\tUpperLeftPointMtrs=({x0:.6f},{y0:.6f})\n\t\tLowerRightMtrs=({x1:.6f},{y1:.6f})\n"
        "\t\tProjection=GCTP_SNSOID\n\t\tProjParams=(6371007.181000,0,0,0,0,0,0,0,0,0,0,0,0)\n"
        "\t\tSphereCode=-1\n\t\tGridOrigin=HDFE_GD_UL\n\t\tGROUP=Dimension\n\t\tEND_GROUP=Dimension\n"
        f"\t\tGROUP=DataField\n{objects}\t\tEND_GROUP=DataField\n\tEND_GROUP=GRID_1\n"
        "END_GROUP=GridStructure\nEND\n"
    )


def write_modis_tile(
    path: Path, grid_name: str, fields: dict[str, tuple[np.ndarray, dict[str, Any]]], h: int, v: int
) -> Path:
    """Write an HDF4-EOS tile with the given SDS (values, attributes) via pyhdf."""
    from pyhdf.SD import SD, SDC

    n = next(iter(fields.values()))[0].shape[0]
    sd = SD(str(path), SDC.WRITE | SDC.CREATE | SDC.TRUNC)
    sd.attr("StructMetadata.0").set(SDC.CHAR, struct_metadata(grid_name, h, v, n, list(fields)))
    for name, (values, attrs) in fields.items():
        sds = sd.create(name, _SDC_TYPES[values.dtype.name], values.shape)
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
    return path


@pytest.fixture
def modis_tile_writer():
    return write_modis_tile


# ---------------------------------------------------------------- SMAP L3 (HDF5)

SMAP_GROUPS = (("Soil_Moisture_Retrieval_Data_AM", ""), ("Soil_Moisture_Retrieval_Data_PM", "_pm"))


def write_smap_l3(
    path: Path,
    shape: tuple[int, int],
    am: tuple[np.ndarray, np.ndarray],
    pm: tuple[np.ndarray, np.ndarray],
    release: str = "R18290",
) -> Path:
    """An SPL3SMP(_E)-structured file: names, dtypes and attributes as in SC_SPL3SMP_008.dmr.

    Args:
        am, pm: (soil_moisture float32, retrieval_qual_flag uint16) full global arrays.
    """
    with h5py.File(path, "w") as f:
        ident = f.create_group("Metadata/DatasetIdentification")
        ident.attrs["shortName"] = "SPL3SMP_E" if shape[0] == 1624 else "SPL3SMP"
        ident.attrs["CompositeReleaseID"] = release
        for (group_name, sfx), (sm, flag) in zip(SMAP_GROUPS, (am, pm), strict=True):
            g = f.create_group(group_name)
            d = g.create_dataset("soil_moisture" + sfx, data=sm.astype(np.float32))
            d.attrs["units"] = np.bytes_(b"cm**3/cm**3")
            d.attrs["valid_min"] = np.float32(0.02)
            d.attrs["valid_max"] = np.float32(0.5)
            d.attrs["_FillValue"] = np.float32(-9999.0)
            q = g.create_dataset("retrieval_qual_flag" + sfx, data=flag.astype(np.uint16))
            q.attrs["_FillValue"] = np.uint16(65534)
            q.attrs["flag_masks"] = np.bytes_(b"1s, 2s, 4s, 8s")
            q.attrs["flag_meanings"] = np.bytes_(
                b"Retrieval_recommended Retrieval_attempted Retrieval_success FT_retrieval_success"
            )
            for coord in ("latitude", "longitude"):
                c = g.create_dataset(coord + sfx, data=np.full(shape, -9999.0, dtype=np.float32))
                c.attrs["_FillValue"] = np.float32(-9999.0)
    return path


@pytest.fixture
def smap_writer():
    return write_smap_l3
