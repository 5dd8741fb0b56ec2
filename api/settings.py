"""HTTP server settings (pydantic-settings), passed explicitly to the app factory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class OnlineTiles(BaseSettings):
    """An optional online raster basemap (off by default: township offices are offline)."""

    name: str
    url: str  # an XYZ template, e.g. https://tile.example.org/{z}/{x}/{y}.png
    attribution: str = ""


class ApiSettings(BaseSettings):
    """Read from GONGJIAN_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="GONGJIAN_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    title: str = "gongjian 攻坚图"
    # Database role the API switches to on every connection (migration 0003); empty: none.
    db_role: str | None = "gongjian_api"
    tile_cache_mb: int = Field(default=64, ge=0)
    # a folder for tiles shared by worker processes (`serve --workers N` sets it); None: memory
    tile_cache_dir: Path | None = None
    # POST /imports: largest upload (and largest unpacked zip archive), in MiB
    max_upload_mb: int = Field(default=50, ge=1)
    # wrong tokens an address may send in 10 minutes before it is held (429, doubling waits)
    bad_token_allowance: int = Field(default=20, ge=1)
    # /field: largest photo a phone may upload, in MB (phones compress to a few hundred kB)
    field_photo_max_mb: float = Field(default=5, gt=0)
    # JSON list, e.g. GONGJIAN_ONLINE_TILES='[{"name": "OSM", "url": "https://…/{z}/{x}/{y}.png"}]'
    online_tiles: list[OnlineTiles] = Field(default_factory=list)
    # The address phones and other computers reach this server at, e.g.
    # http://192.168.1.10:8000: the QR code on every printed 攻坚图 links to its web twin there.
    # Unset: the HTTP route uses the address the request came to, the CLI http://HOST:PORT.
    public_url: str | None = None
    # Read replicas (`gongjian db replica add` prints one), comma-separated database URLs:
    # read-only requests go there, writes to the primary. Empty: everything on the primary.
    read_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # a replica whose replay is further behind the primary than this is skipped
    max_replica_lag_s: float = Field(default=5.0, gt=0)

    @field_validator("read_urls", mode="before")
    @classmethod
    def _split_urls(cls, value):
        if isinstance(value, str):
            return [url.strip() for url in value.split(",") if url.strip()]
        return value

    def web_base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"
