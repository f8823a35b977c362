"""The oncoline version (one place: the package, its cache keys and --version read it)."""

__version__ = "0.1.0"
