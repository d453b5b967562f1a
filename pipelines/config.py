"""Configuration: one typed object, built at the entry point from FENGQIAO_* variables and CLI options."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.domain import RED_TICKET

# The demo's HMAC key is marked as such, so that nobody mistakes it for a real one.
DEMO_SECRET = "DEMO-SECRET-NOT-FOR-PRODUCTION"
MIN_SECRET_LENGTH = 16


class ConfigError(Exception):
    """The configuration cannot work; the message says what to set."""


class Settings(BaseSettings):
    """Where fengqiao keeps its data and models, and how it runs."""

    model_config = SettingsConfigDict(env_prefix="FENGQIAO_", extra="ignore")

    home: Path = Field(Path("data"), description="data folder: store, MLflow, outputs")
    mode: Literal["demo", "production"] = "demo"
    site_secret: SecretStr | None = Field(
        None, description="HMAC key for party links (FENGQIAO_SITE_SECRET)"
    )
    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; default: sqlite under home"
    )
    red_capacity: int | None = Field(
        None, description=f"red tickets ({RED_TICKET[0]}) a day the centre can handle"
    )
    n_jobs: int = Field(
        2,
        description="processes: ingest, merging and featurising start workers from 50,000 rows; "
        "context and featurising fork this process from 2,000",
    )
    text_budget_seconds: float = Field(
        30.0, description="seconds the text model's settings search may take, per model trained"
    )
    text_candidates: int | None = Field(
        None,
        description="settings the text model's search may try (None: as many as the budget allows)",
    )
    h3_resolution: int = Field(
        8, description="H3 resolution of the feed's cells (8: about 0.7 km2)"
    )
    hotspot_days: int = Field(28, description="days of cases the Gi* hot spots count")
    trend_weeks: int = Field(
        10, description="weeks of the emerging hot-spot trend and forecast_rank"
    )
    map_tiles: str | None = Field(
        None, description="base-tile URL template for map.html; None: no tiles"
    )

    @classmethod
    def at(cls, home: str | Path | None) -> Settings:
        """Return the settings with `home` as the data folder, or as configured when None."""
        return cls(home=Path(home)) if home else cls()

    def secret(self) -> str:
        """Return the HMAC key; in production refuse a missing, short or demo key."""
        value = self.site_secret.get_secret_value() if self.site_secret else None
        if self.mode == "production":
            if not value:
                raise ConfigError(
                    "production mode needs a site secret: set FENGQIAO_SITE_SECRET to a long random string"
                )
            if value == DEMO_SECRET:
                raise ConfigError(
                    "production mode refuses the demo secret: set FENGQIAO_SITE_SECRET to the site's own key"
                )
            if len(value) < MIN_SECRET_LENGTH:
                raise ConfigError(
                    f"the site secret must be at least {MIN_SECRET_LENGTH} characters long"
                )
            return value
        return value or DEMO_SECRET
