"""smprod: operational 1 km soil-moisture downscaling on EASE-Grid 2.0.

The library never reads the environment or the clock: settings and dates are arguments.
"""

__version__ = "0.1.0"
