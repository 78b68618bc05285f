"""movie-collections: personal movie collections over a third-party catalogue."""

__version__ = "0.1.0"
