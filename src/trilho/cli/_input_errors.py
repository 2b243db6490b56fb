"""Library exceptions that mean bad input, turned into one ``InputError`` at the CLI edge (exit 2, one line).

A glob that matches nothing, a CSV DuckDB cannot parse, a column that is not there, a file that is not
UTF-8, a missing path, a Spark that cannot start Java: each is the caller's input, not a bug, so the command
says what is wrong and what to do instead of printing a traceback. Classes are recognised by module and
name (never imported here, so ``duckdb`` and ``pyspark`` stay optional and unloaded). Anything not listed
keeps its traceback: an unknown exception is a bug to fix, not input to blame.
"""

from __future__ import annotations

from trilho.errors import InputError

_DUCKDB = {
    "IOException": (
        "cannot read the input: {msg}",
        "check the path: the file must exist and a glob must match at least one file",
    ),
    "HTTPException": ("cannot read the input: {msg}", "check the URL and that it can be reached"),
    "InvalidInputException": (
        "the data could not be read: {msg}",
        "check that the file is well-formed CSV (header row, one delimiter) or Parquet",
    ),
    "ConversionException": (
        "a value in the data has the wrong type: {msg}",
        "check that the metric and covariate columns hold numbers only",
    ),
    "ParserException": (
        "the input could not be parsed: {msg}",
        "check the file and the column and table names given in the options",
    ),
    "BinderException": (
        "a column named in the options is not in the data: {msg}",
        "check --variant, --metric, --covariate, --exposure-col and the *-col options against the header",
    ),
    "CatalogException": (
        "a table named in the options does not exist: {msg}",
        "check --table (and --schema) against the database",
    ),
}

_OS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def as_input_error(exc: BaseException) -> InputError | None:
    """The ``InputError`` that ``exc`` (or an exception it was raised from) stands for, or None for a bug."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = _one(current)
        if found is not None:
            return found
        current = current.__cause__ or current.__context__
    return None


def _one(exc: BaseException) -> InputError | None:
    msg = _first_line(exc)
    if isinstance(exc, UnicodeDecodeError):
        return InputError(
            f"the input is not UTF-8 text: {msg}",
            fix="save the file as UTF-8 (e.g. iconv -t UTF-8 FILE > FILE.utf8) and pass that",
            field="encoding",
            value=exc.encoding,
        )
    if isinstance(exc, _OS):
        name = exc.filename if exc.filename is not None else "the input"
        return InputError(
            f"cannot use {str(name)!r}: {exc.strerror or msg}",
            fix="check that the path exists, is a file or folder as the option asks, and is readable",
            field="path",
            value=str(name),
        )
    kind = type(exc)
    if kind.__module__.lstrip("_").startswith("duckdb"):
        for cls in kind.__mro__:
            if cls.__name__ in _DUCKDB:
                message, fix = _DUCKDB[cls.__name__]
                return InputError(message.format(msg=msg), fix=fix, rule=f"duckdb.{cls.__name__}")
    if kind.__module__.startswith("pyspark") and "JAVA_GATEWAY_EXITED" in _error_class(exc) + str(exc):
        return InputError(
            "Spark could not start Java (JAVA_GATEWAY_EXITED)",
            fix="install Java 17 or newer and point JAVA_HOME at it, or use --engine duckdb",
            field="engine",
            value="spark",
        )
    return None


def _error_class(exc: BaseException) -> str:
    getter = getattr(exc, "getCondition", None) or getattr(exc, "getErrorClass", None)
    try:
        return str(getter()) if callable(getter) else ""
    except Exception:  # a pyspark without error classes
        return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]
