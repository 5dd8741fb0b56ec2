"""HTTP server settings (pydantic-settings), passed explicitly to the app factory."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """Read from GONGJIAN_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="GONGJIAN_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    title: str = "gongjian 攻坚图"
