"""All settings, one object, from DARKROOM_* environment variables. URLs pick the adapters."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Limits(BaseSettings):
    """What an input may be before it is rejected without being decoded."""

    model_config = SettingsConfigDict(env_prefix="DARKROOM_", extra="ignore")

    max_bytes: int = Field(default=100 * 1024 * 1024, ge=1, description="largest original accepted")
    max_pixels: int = Field(default=120_000_000, ge=1, description="width x height at most")
    max_side: int = Field(default=30_000, ge=1, description="longest side at most, in pixels")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DARKROOM_", extra="ignore")

    home: Path = Field(default=Path("./darkroom-data"), description="data directory")
    storage: str | None = Field(default=None, description="file://DIR or s3://bucket/prefix")
    database: str | None = Field(default=None, description="sqlite:///FILE or postgresql://...")
    queue: str = Field(default="local", description="local (the database) or sqs://...")
    owner: str = Field(default="default", description="owner of files ingested from the CLI")
    recipe: str = Field(default="pets", description="recipe used when none is named")
    recipes_dir: Path | None = Field(default=None, description="extra recipe YAML files")
    notify_webhook_url: str | None = Field(default=None, description="POST uncertain results here")
    notify_webhook_secret: str | None = Field(default=None, description="HMAC-SHA256 key")
    log_level: str = "INFO"
    log_format: str = Field(default="json", description="json or text")
    limits: Limits = Field(default_factory=Limits)

    @property
    def storage_url(self) -> str:
        return self.storage or f"file://{self.home.resolve()}"

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{(self.home / 'darkroom.db').resolve()}"
