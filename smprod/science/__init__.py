"""The science: 1 km predictors (:mod:`.features`), training samples (:mod:`.training`), the
downscaling models (:mod:`.models`), tiled prediction (:mod:`.predict`) and the mass
correction to SMAP (:mod:`.correction`).
"""
