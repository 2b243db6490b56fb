"""Model references: ``NAME``, ``NAME@latest``, ``NAME@3`` and ``NAME@alias`` parsed into one small value."""

from __future__ import annotations

from dataclasses import dataclass

from trilho.errors import RegistryError
from trilho.names import DIGITS, NAME, NAME_FIX, WORD, is_name

LATEST = "latest"


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference: a model name plus either a version number or an alias (``latest`` by default)."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@{self.version}"
        return f"{self.name}@{self.alias or LATEST}"

    @property
    def is_latest(self) -> bool:
        """True for ``NAME`` and ``NAME@latest``."""
        return self.version is None and (self.alias is None or self.alias == LATEST)


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid model name, else raise ``RegistryError``."""
    if not is_name(name, NAME):
        raise RegistryError(
            f"model name {name!r} is not valid",
            fix=NAME_FIX,
            field="name",
            value=name,
        )
    return name


def check_alias(alias: str) -> str:
    """Return ``alias`` if it can name a version (not a number, not ``latest``), else raise."""
    if not is_name(alias, WORD) or alias == LATEST:
        raise RegistryError(
            f"alias {alias!r} is not valid",
            fix="use a word such as champion or challenger (letters, digits, '_', '-'; 'latest' is reserved)",
            field="alias",
            value=alias,
        )
    return alias


def parse_ref(ref: str | ModelRef) -> ModelRef:
    """Parse ``NAME``, ``NAME@latest``, ``NAME@3`` or ``NAME@alias``."""
    if isinstance(ref, ModelRef):
        return ref
    if not isinstance(ref, str) or ref.count("@") > 1:
        raise RegistryError(
            f"model reference {ref!r} is not valid",
            fix="write NAME, NAME@latest, NAME@3 or NAME@champion",
            field="ref",
            value=str(ref),
        )
    name, _, tail = ref.partition("@")
    check_name(name)
    if not tail or tail == LATEST:
        return ModelRef(name)
    if DIGITS.fullmatch(tail):
        version = int(tail)
        if version < 1:
            raise RegistryError(
                f"version {tail} in {ref!r} is not valid", fix="versions start at 1", field="ref", value=ref
            )
        return ModelRef(name, version=version)
    return ModelRef(name, alias=check_alias(tail))
