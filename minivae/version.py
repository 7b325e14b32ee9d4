"""minivae's version, in one place (the package, its metadata and every run's provenance read it here)."""
__version__ = "0.1.0"
