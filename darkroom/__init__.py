"""darkroom: image ingestion and intelligence, one engine, pipelines as data."""

__version__ = "0.1.0"
