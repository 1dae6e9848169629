"""The grids: EASE-Grid 2.0 and the region's coarse and 1 km grids (:mod:`.ease`), aggregation
and interpolation between them (:mod:`.regrid`) and reprojection of granules onto them
(:mod:`.reproject`).
"""
