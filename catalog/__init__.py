"""STAC catalog for smprod products: build, publish atomically, validate offline, serve."""
