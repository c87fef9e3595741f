"""The HTTP service: FastAPI over the same engine the CLI drives."""
