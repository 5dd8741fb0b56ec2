"""Database settings, read from the environment (pydantic-settings).

Passed explicitly to whatever needs a database; nothing reads the environment behind
the caller's back.

>>> DatabaseSettings(database_url="postgresql+psycopg://u@h/db").uses_embedded_cluster
False
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    """Where the embedded cluster and caches live when GONGJIAN_HOME is not set.

    Root gets a system folder (the server runs as the ``postgres`` user, who cannot
    enter /root); everybody else the XDG data folder.
    """
    if os.geteuid() == 0:
        return Path("/var/lib/gongjian")
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "gongjian"


class DatabaseSettings(BaseSettings):
    """Where the data lives: an external server (DATABASE_URL) or the embedded cluster."""

    # GONGJIAN_HOME, GONGJIAN_PG_BIN; DATABASE_URL keeps its conventional name. (A bare
    # field name as alias would read $HOME.)
    model_config = SettingsConfigDict(env_prefix="GONGJIAN_", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    home: Path = Field(default_factory=default_home)
    pg_bin: Path | None = Field(
        default=None,
        description="Folder with initdb/pg_ctl; found automatically when unset.",
    )

    @property
    def uses_embedded_cluster(self) -> bool:
        return not self.database_url
