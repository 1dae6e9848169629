"""QA bit flags of the 1 km product (uint8 band ``qa``); bit n set means the condition holds.

The meanings are part of the product definition: they are written into the COG's band
description, the STAC ``raster:bands`` and the provenance record. Never renumber a bit.
"""

from __future__ import annotations

from enum import IntFlag

#: Largest value of the uint8 ``qa`` band.
UINT8_MAX = 255


class QA(IntFlag):
    """Per-pixel quality flags."""

    #: no valid SMAP value for the pixel's coarse cell: no mass constraint; the value is the model
    #: output shifted by the correction of nearby cells with SMAP (``gap_correction_km``; 0 = the
    #: model output as it is)
    COARSE_MISSING = 1 << 0
    #: at least one MODIS predictor was gap-filled in time for this pixel
    MODIS_GAP_FILLED = 1 << 1
    #: the value was clipped to the physical range [0, porosity] (and mass redistributed)
    VALUE_CLIPPED = 1 << 2
    #: a day-to-day predictor (SMAP lags, LST, NDVI, EVI, albedo, precipitation) is outside the
    #: range seen in training, or the land-cover class was not in training (extrapolation)
    OUT_OF_TRAINING_RANGE = 1 << 3
    #: precipitation came from a lesser IMERG run (Early or Late, not Final)
    LESSER_PRECIP = 1 << 4
    #: a lagged SMAP predictor had no valid coarse cell around the pixel (several days of swath
    #: gaps at the region's edge) and was taken from the nearest cell with one
    SMAP_LAG_FILLED = 1 << 5
    #: no IMERG run of a day of D-2..D had a value for the pixel (none in the source, or every
    #: one unreadable): ``precip``/``precip_3d`` filled with the mean of the valid days of the
    #: three, 0 mm where none is valid (:func:`smprod.inputs.dayfiles.fill_precip`)
    PRECIP_FILLED = 1 << 6
    #: a required predictor is missing for the pixel: no value produced (nodata)
    NO_RETRIEVAL = 1 << 7


#: Human-readable meaning of each bit, for metadata.
QA_DESCRIPTIONS = {
    flag.value: (flag.name or "").lower()
    for flag in QA  # type: ignore[attr-defined]
}


#: One sentence per bit, for people and generic tools (the STAC item's ``classification:bitfields``
#: descriptions); the comments on :class:`QA` above say the same at more length.
QA_MEANINGS: dict[int, str] = {
    QA.COARSE_MISSING: "no SMAP value for the pixel's coarse cell: no mass constraint; the model "
    "value shifted by the correction of neighbouring cells with SMAP",
    QA.MODIS_GAP_FILLED: "a MODIS input was missing (cloud) and filled in time or from the cell's mean",
    QA.VALUE_CLIPPED: "clipped to the physical range [0, porosity] and the mass redistributed",
    QA.OUT_OF_TRAINING_RANGE: "a day-to-day predictor outside the range seen in training, or a "
    "land-cover class not seen in training (extrapolation)",
    QA.LESSER_PRECIP: "precipitation from IMERG Early or Late, not Final (reprocessed when Final arrives)",
    QA.SMAP_LAG_FILLED: "no coarse cell around the pixel had a lagged SMAP value: taken from the "
    "nearest cell with one",
    QA.PRECIP_FILLED: "no IMERG run of a day of D-2..D was usable at the pixel: precipitation filled "
    "from the valid days of the three (0 mm where none)",
    QA.NO_RETRIEVAL: "a required predictor is missing: no value (nodata)",
}


def flag_names(value: int) -> tuple[str, ...]:
    """Names of the bits set in a QA value, lowest bit first (``()`` for 0).

    A set bit that :class:`QA` does not define (none is written today) is named ``bit_<n>``, so a
    value from a newer product is decoded rather than refused.

    Raises:
        ValueError: if ``value`` is not in 0..255 (the ``qa`` band is uint8).
    """
    if not 0 <= value <= UINT8_MAX:
        raise ValueError(f"QA value {value} is not a uint8 (0..{UINT8_MAX})")
    bits = (1 << n for n in range(UINT8_MAX.bit_length()))
    return tuple(QA_DESCRIPTIONS.get(bit, f"bit_{bit.bit_length() - 1}") for bit in bits if value & bit)
