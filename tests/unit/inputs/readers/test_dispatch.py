"""Reader selection by official file name."""

from __future__ import annotations

import pytest

from smprod.inputs.readers import reader_for
from smprod.inputs.readers.imerg import read_imerg
from smprod.inputs.readers.ismn import read_stm
from smprod.inputs.readers.modis import read_modis
from smprod.inputs.readers.smap import read_smap_l3
from smprod.inputs.readers.static import read_static


@pytest.mark.parametrize(
    ("name", "reader"),
    [
        ("SMAP_L3_SM_P_20150410_R19240_001.h5", read_smap_l3),
        ("SMAP_L3_SM_P_E_20150410_R19240_002.h5", read_smap_l3),
        ("MOD11A1.A2021227.h11v05.061.2021228105320.hdf", read_modis),
        ("MCD12Q1.A2021001.h11v05.061.2022146024956.hdf", read_modis),
        ("3B-DAY-E.MS.MRG.3IMERG.20240701-S000000-E235959.V07B.nc4", read_imerg),
        ("3B-HHR.MS.MRG.3IMERG.20000601-S000000-E002959.0000.V07A.HDF5", read_imerg),
        ("SOILSCAPE_SOILSCAPE_node505_sm_0.050000_0.050000_EC5_20070101_20131231.stm", read_stm),
        ("elevation.tif", read_static),
    ],
)
def test_reader_for_official_names(name, reader):
    assert reader_for(name) is reader


@pytest.mark.parametrize("name", ["SMAP_L3_SM_P_20150410.h5", "MOD11A1.hdf", "notes.txt", "3B-MO.MS.MRG.nc4"])
def test_unknown_names_have_no_reader(name):
    assert reader_for(name) is None
