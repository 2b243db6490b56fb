"""Where trilho keeps its state: the home folder, the database URL, the artifact store URL and the signing
key's source, from flags or the environment (every variable is declared here, once).

What N hosts must share to act as one trilho: the database URL, the artifact store URL and the signing key.
Everything else under ``TRILHO_HOME`` (local copies of artifacts, reports, templates) is per host.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from trilho.errors import ConfigError

HOME_ENV = "TRILHO_HOME"
DATABASE_URL_ENV = "TRILHO_DATABASE_URL"
ARTIFACTS_URL_ENV = "TRILHO_ARTIFACTS_URL"
SIGNING_KEY_ENV = "TRILHO_SIGNING_KEY"
SIGNING_KEY_FILE_ENV = "TRILHO_SIGNING_KEY_FILE"
# The audit chain's HMAC key (default: the signing key) and where checkpoints of the chain are appended.
AUDIT_KEY_ENV = "TRILHO_AUDIT_KEY"
AUDIT_KEY_FILE_ENV = "TRILHO_AUDIT_KEY_FILE"
AUDIT_CHECKPOINT_ENV = "TRILHO_AUDIT_CHECKPOINT"
DEFAULT_HOME = ".trilho"
INSTALL_SOURCE_ENV = "TRILHO_INSTALL_SOURCE"  # what generated projects' CI installs (see install_source)


@dataclass(frozen=True)
class Settings:
    """Resolved settings: home folder, database URL and artifact store (a folder or an fsspec URL)."""

    home: Path
    database_url: str
    artifacts_url: str

    @property
    def reports_dir(self) -> Path:
        """Where reports are written (per host)."""
        return self.home / "reports"


def resolve_settings(
    home: str | os.PathLike[str] | None = None,
    database_url: str | None = None,
    artifacts_url: str | None = None,
) -> Settings:
    """Settings from explicit values, then ``TRILHO_HOME`` / ``TRILHO_DATABASE_URL`` /
    ``TRILHO_ARTIFACTS_URL``, then defaults (SQLite and an artifact folder under the home)."""
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
    artifacts = artifacts_url or os.environ.get(ARTIFACTS_URL_ENV) or str(home_path / "artifacts")
    return Settings(home=home_path, database_url=url, artifacts_url=_artifacts_root(artifacts))


def _artifacts_root(value: str) -> str:
    """A folder path as given (``~`` expanded), or an fsspec URL whose scheme fsspec knows."""
    if "://" not in value:
        return str(Path(value).expanduser())
    import fsspec

    scheme = value.split("://", 1)[0]
    if scheme not in fsspec.available_protocols():
        raise ConfigError(
            f"artifact store URL {value!r} has an unknown scheme {scheme!r}",
            fix="use a folder path or an fsspec URL such as file:///srv/trilho, s3://bucket/trilho, gs://…",
            field="artifacts_url",
            value=value,
        )
    return value


def install_source() -> str:
    """What a rendered project's CI installs to get trilho: ``TRILHO_INSTALL_SOURCE`` (a requirement, a wheel
    URL or a git URL) or, by default, exactly the trilho version that rendered it (``trilho==X.Y.Z``)."""
    from trilho import __version__

    value = os.environ.get(INSTALL_SOURCE_ENV, "").strip()
    if "\n" in value or '"' in value:
        raise ConfigError(
            f"{INSTALL_SOURCE_ENV} {value!r} is not one requirement",
            fix="give one requirement, wheel URL or git URL (no quotes, no newlines)",
            field=INSTALL_SOURCE_ENV,
            value=value,
        )
    return value or f"trilho=={__version__}"
