"""Opening the store: engine setup, migrations to head, transactions, and one-line errors when it is down."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from trilho.config import Settings, resolve_settings
from trilho.errors import StoreError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class Store:
    """A handle on the state store. ``with store.transaction() as conn:`` is all-or-nothing."""

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        echo: bool = False,
        audit_key: bytes | Callable[[], bytes] | None = None,
    ) -> None:
        self.url = url
        self.schema = schema
        self.engine: Engine = _make_engine(url, schema=schema, echo=echo)
        self._audit_key = audit_key
        _STORES[id(self.engine)] = self

    @property
    def audit_key(self) -> bytes | None:
        """The audit chain's HMAC key, kept outside the database (read on first use); None: unkeyed."""
        if callable(self._audit_key):
            self._audit_key = self._audit_key()
        return self._audit_key

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back (nothing written) if it raises."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise _unreachable(self.url, exc) from exc

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """A read connection (no implicit commit)."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except OperationalError as exc:
            raise _unreachable(self.url, exc) from exc

    def ping(self) -> None:
        """Raise ``StoreError`` with one clear line if the database cannot be reached."""
        with self.connect() as conn:
            conn.execute(text("SELECT 1"))

    def migrate(self, target: str = "heads") -> None:
        """Bring the schema to every area's head (idempotent; safe to call at every start); ``target``: an
        Alembic revision to upgrade to instead (tests replay a store's history with it)."""
        from alembic import command
        from alembic.config import Config

        self.ping()
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("path_separator", "os")
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                cfg.attributes["schema"] = self.schema
                command.upgrade(cfg, target)
        except OperationalError as exc:
            raise _unreachable(self.url, exc) from exc
        except SQLAlchemyError as exc:
            raise StoreError(
                f"migrating the store at {_safe_url(self.url)} failed: {exc.__class__.__name__}: {exc}",
                fix="check that the database user may create tables, then run the command again",
            ) from exc

    def dispose(self) -> None:
        self.engine.dispose()


# The store each engine belongs to, so code holding only a connection (the audit log's append, inside the
# caller's transaction) finds the key of the store it writes to.
_STORES: weakref.WeakValueDictionary[int, Store] = weakref.WeakValueDictionary()


def audit_key_for(conn: Connection) -> bytes | None:
    """The audit key of the store ``conn`` belongs to (None for a store opened without one)."""
    store = _STORES.get(id(conn.engine))
    return store.audit_key if store is not None and store.engine is conn.engine else None


def _make_engine(url: str, *, schema: str | None, echo: bool) -> Engine:
    kwargs: dict = {"echo": echo, "future": True}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    elif url.startswith("postgresql"):
        kwargs["pool_pre_ping"] = True
        connect_args = {"connect_timeout": 5}
        if schema:
            connect_args["options"] = f"-csearch_path={schema}"
        kwargs["connect_args"] = connect_args
    try:
        engine = create_engine(url, **kwargs)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StoreError(
            f"cannot use database URL {_safe_url(url)}: {exc}",
            fix="use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB",
            field="database_url",
        ) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _safe_url(url: str) -> str:
    """The URL with any password masked, for messages and logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url


def _unreachable(url: str, exc: Exception) -> StoreError:
    reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__
    return StoreError(
        f"the store at {_safe_url(url)} is unreachable: {reason}",
        fix="start the database or point TRILHO_DATABASE_URL / --home at a reachable one",
        field="database_url",
    )


def _audit_key(home: Path) -> bytes:
    # the key rules live beside the signing key's (the audit key defaults to it); read only on first append
    from trilho.registry.signing import audit_key

    return audit_key(home).secret


def open_store(settings: Settings | None = None, *, migrate: bool = True) -> Store:
    """Open (and by default migrate) the store that ``settings`` point at."""
    settings = settings or resolve_settings()
    if settings.database_url.startswith("sqlite"):
        settings.home.mkdir(parents=True, exist_ok=True)
    home = settings.home
    store = Store(settings.database_url, audit_key=lambda: _audit_key(home))
    if migrate:
        store.migrate()
    return store
