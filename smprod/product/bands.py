"""How each COG layer of a product day is written: type, nodata, unit, overview resampling and
the CF metadata of the QA bits (the band half of the "Products" contract in
``docs/architecture.md``)."""

from __future__ import annotations

from smprod.product.cog import BandSpec
from smprod.qa import QA_DESCRIPTIONS

#: Nodata of the qa band: above every combination of defined bits (at most 0b1001_1111 = 159).
QA_NODATA = 255
#: Largest soil moisture accepted for writing (m3/m3): anything above is a bug upstream, since the
#: correction bounds values by the porosity (at most ~0.6 for real soils).
MAX_SOIL_MOISTURE = 1.0

#: How each COG asset is written (band description, type, nodata, unit, overview resampling).
BANDS: dict[str, BandSpec] = {
    "soil_moisture": BandSpec(
        "soil_moisture",
        "float32",
        float("nan"),
        "m3/m3",
        "AVERAGE",
        {"long_name": "volumetric soil moisture, 0-5 cm, 1 km, mass-conserving to SMAP"},
    ),
    "qa": BandSpec(
        "qa",
        "uint8",
        QA_NODATA,
        "",
        "NEAREST",
        {
            "long_name": "quality flags (bit n set = condition holds)",
            "flag_masks": " ".join(str(bit) for bit in QA_DESCRIPTIONS),
            "flag_meanings": " ".join(QA_DESCRIPTIONS.values()),
            **{f"bit_{int(bit).bit_length() - 1}": name for bit, name in QA_DESCRIPTIONS.items()},
        },
    ),
    "uncertainty": BandSpec(
        "uncertainty",
        "float32",
        float("nan"),
        "m3/m3",
        "AVERAGE",
        {"long_name": "1-sigma uncertainty of soil_moisture (overviews: mean sigma, not sigma of mean)"},
    ),
}
