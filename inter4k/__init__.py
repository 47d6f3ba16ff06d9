"""inter4k: video super-resolution and frame interpolation on Inter4K, built on adaunpool.

The library entry points live in :mod:`inter4k.api` (what the ``inter4k`` command line calls);
``python -m inter4k.demo`` runs the AdaPool/AdaUnPool demo on the bundled sample image.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
