"""Content-addressed artifact storage on a local folder or any fsspec URL.

A file is stored as its bytes; a folder as a canonical tar (sorted entries, zeroed times and owners), so the
same content always has the same sha256 address. Writes go to a temporary name, are re-hashed, then moved
into place; reads are hashed again on the way out: a mismatch raises ``ArtifactCorrupt``, an address the
store does not hold ``ArtifactMissing`` (typically a host pointed at another store than the registering one).
Orphaned blobs (a crash between the write and the database insert) are harmless: an address only ever holds
its content.

Loading materializes a verified local copy per (content, name) — two versions with the same bytes under
different names never share one — and swaps it into place under a file lock, so concurrent loads (threads of
a gateway, its shadow child, other workers) never move a copy from under each other.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import fsspec
from filelock import FileLock

from trilho.errors import ArtifactCorrupt, ArtifactMissing, RegistryError

CHUNK = 1 << 20


@dataclass(frozen=True)
class ArtifactInfo:
    """What was stored: the content address, whether it was a file or a folder, and its original name."""

    sha256: str
    kind: str  # "file" | "dir"
    name: str
    size: int


def _hash_stream(stream: BinaryIO, sink: BinaryIO | None = None) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if sink is not None:
            sink.write(chunk)
    return digest.hexdigest(), size


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes."""
    with open(path, "rb") as fh:
        return _hash_stream(fh)[0]


def _canonical_tar(folder: Path, out: BinaryIO) -> None:
    """Write ``folder`` as a tar whose bytes depend only on relative paths, contents and the x bit."""
    entries = sorted(p for p in folder.rglob("*") if "__pycache__" not in p.relative_to(folder).parts)
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in entries:
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                raise RegistryError(
                    f"artifact folder {str(folder)!r} contains a symbolic link {rel!r}",
                    fix="copy the linked file into the folder instead of linking it",
                    field="artifact",
                    value=str(folder),
                )
            info = tarfile.TarInfo(rel)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if path.is_dir():
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif path.is_file():
                info.size = path.stat().st_size
                info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
                with path.open("rb") as fh:
                    tar.addfile(info, fh)


def digest_path(path: str | os.PathLike[str]) -> str:
    """The content address of a file or folder, exactly as ``ArtifactStore.put`` would compute it."""
    p = Path(path)
    if p.is_dir():
        with tempfile.SpooledTemporaryFile(max_size=64 << 20) as spool:
            _canonical_tar(p, spool)  # type: ignore[arg-type]
            spool.seek(0)
            return _hash_stream(spool)[0]  # type: ignore[arg-type]
    return sha256_file(p)


class ArtifactStore:
    """Immutable blobs addressed by sha256 under ``root`` (a folder or an fsspec URL such as ``memory://x``)."""

    def __init__(
        self, root: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None
    ) -> None:
        self.root = str(root)
        self.fs, base = fsspec.core.url_to_fs(self.root)
        self._base = base.rstrip("/") or "/"
        self.is_local = "file" in (
            self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        )
        if cache_dir is None:
            tag = hashlib.sha256(self.root.encode()).hexdigest()[:12]
            cache_dir = (
                Path(base) / ".materialized"
                if self.is_local
                else Path(tempfile.gettempdir()) / "trilho-artifacts" / tag
            )
        self.cache_dir = Path(cache_dir)

    def blob_path(self, sha256: str) -> str:
        """Where the blob with this address lives inside the store."""
        return f"{self._base}/sha256/{sha256[:2]}/{sha256}"

    def exists(self, sha256: str) -> bool:
        """True if a blob is stored under this address."""
        return bool(self.fs.exists(self.blob_path(sha256)))

    def put(self, path: str | os.PathLike[str]) -> ArtifactInfo:
        """Store a file or folder and return its address (storing the same content twice is a no-op)."""
        src = Path(path)
        if not src.exists():
            raise RegistryError(
                f"artifact {str(src)!r} does not exist",
                fix="pass --artifact with the path of a model file or folder",
                field="artifact",
                value=str(src),
            )
        kind = "dir" if src.is_dir() else "file"
        with tempfile.SpooledTemporaryFile(max_size=64 << 20) as spool:
            if kind == "dir":
                _canonical_tar(src, spool)  # type: ignore[arg-type]
            else:
                with src.open("rb") as fh:
                    shutil.copyfileobj(fh, spool)  # type: ignore[misc]
            spool.seek(0)
            sha, size = _hash_stream(spool)  # type: ignore[arg-type]
            final = self.blob_path(sha)
            if self.fs.exists(final) and self._stored_hash(final) == sha:
                return ArtifactInfo(sha, kind, src.name, size)
            tmp = f"{self._base}/tmp/{sha}.{uuid.uuid4().hex}"
            self.fs.makedirs(f"{self._base}/tmp", exist_ok=True)
            self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
            spool.seek(0)
            with self.fs.open(tmp, "wb") as out:
                shutil.copyfileobj(spool, out)  # type: ignore[misc]
        try:
            written = self._stored_hash(tmp)
            if written != sha:
                raise ArtifactCorrupt(
                    f"artifact {src.name!r} changed while it was being stored (sha256 {written} != {sha})",
                    fix="make sure nothing writes to the artifact while registering, then try again",
                    field="artifact",
                    value=str(src),
                )
            self.fs.mv(tmp, final)
        finally:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)
        return ArtifactInfo(sha, kind, src.name, size)

    def _stored_hash(self, path: str) -> str:
        with self.fs.open(path, "rb") as fh:
            return _hash_stream(fh)[0]

    def read_bytes(self, sha256: str) -> bytes:
        """The verified bytes of a blob (small artifacts and tests)."""
        buf = io.BytesIO()
        self._fetch_verified(sha256, buf)
        return buf.getvalue()

    def _fetch_verified(self, sha256: str, sink: BinaryIO) -> None:
        path = self.blob_path(sha256)
        if not self.fs.exists(path):
            raise ArtifactMissing(
                f"artifact {sha256[:12]} is missing from artifact store {self.root}",
                fix="point every host at the store the model was registered into (TRILHO_ARTIFACTS_URL / "
                "--artifacts-url), restore the store, or register the model again from its source files",
                field="artifact",
                value=sha256,
                artifacts_url=self.root,
            )
        with self.fs.open(path, "rb") as fh:
            got, _ = _hash_stream(fh, sink)
        if got != sha256:
            raise ArtifactCorrupt(
                f"artifact {sha256[:12]} in {self.root} is corrupt: its bytes hash to {got[:12]}",
                fix="restore the artifact from a backup, or register the model again from its source files",
                field="artifact",
                value=sha256,
                actual=got,
            )

    def materialize(self, info: ArtifactInfo) -> Path:
        """A verified local copy (file or unpacked folder) of the artifact, keeping its original name.

        The blob is always fetched and hashed from the store, so damage there is reported on every load.
        """
        copy = f"{info.sha256}-{hashlib.sha256(info.name.encode()).hexdigest()[:12]}"
        target_dir = self.cache_dir / copy
        target = target_dir / info.name
        staging = Path(tempfile.mkdtemp(prefix=f".{info.sha256[:12]}-", dir=_ensure(self.cache_dir)))
        try:
            blob = staging / "blob"
            with blob.open("wb") as sink:
                self._fetch_verified(info.sha256, sink)
            out = staging / "out"
            out.mkdir()
            if info.kind == "dir":
                with tarfile.open(blob, "r") as tar:
                    tar.extractall(out / info.name, filter="data")
            else:
                blob.rename(out / info.name)
            with FileLock(self.cache_dir / f".{copy}.lock"):
                if target.exists() and digest_path(target) == info.sha256:
                    return target  # an intact copy is already in place (and may be in use): keep it
                if target_dir.exists():  # a damaged local copy: moved aside, then deleted with the staging
                    target_dir.rename(staging / "damaged")
                out.rename(target_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
