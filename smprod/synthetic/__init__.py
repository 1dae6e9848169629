"""A synthetic world that writes a local archive in the real file formats, plus its 1 km truth.

:mod:`smprod.synthetic.world` simulates the physics (static fields, storms, a 1 km soil water
balance, MODIS-like observations); :mod:`smprod.synthetic.formats` writes granules with the
official names, groups, SDS names, dtypes, scale factors, fill values and QC layouts;
:func:`smprod.synthetic.archive.write_archive` ties them together. The system itself never
reads ``truth/``.
"""
