"""movie-collections: personal movie collections over a third-party catalogue."""

from importlib.metadata import version

__version__ = version("movie-collections")  # from pyproject.toml, as installed
