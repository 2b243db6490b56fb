"""Where trilho keeps its state: the home folder and the database URL, from flags or the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from trilho.errors import ConfigError

HOME_ENV = "TRILHO_HOME"
DATABASE_URL_ENV = "TRILHO_DATABASE_URL"
DEFAULT_HOME = ".trilho"


@dataclass(frozen=True)
class Settings:
    """Resolved settings: the home folder (artifacts, SQLite) and the database URL."""

    home: Path
    database_url: str

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "artifacts"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"


def resolve_settings(home: str | os.PathLike[str] | None = None, database_url: str | None = None) -> Settings:
    """Settings from explicit values, then ``TRILHO_HOME`` / ``TRILHO_DATABASE_URL``, then defaults."""
    home_path = Path(home or os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser()
    if home_path.exists() and not home_path.is_dir():
        raise ConfigError(
            f"TRILHO_HOME {str(home_path)!r} exists and is not a folder",
            fix="point --home / TRILHO_HOME at a folder (it is created if missing)",
            field="home",
            value=str(home_path),
        )
    default_url = f"sqlite:///{(home_path / 'trilho.db').resolve()}"
    url = database_url or os.environ.get(DATABASE_URL_ENV) or default_url
    if "://" not in url:
        raise ConfigError(
            f"database URL {url!r} is not a URL",
            fix="use e.g. sqlite:///path/to/trilho.db or postgresql+psycopg://user@host:5432/db",
            field="database_url",
            value=url,
        )
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return Settings(home=home_path, database_url=url)
