"""YAML parsing that remembers where every value came from (file, line, column) for precise errors."""

from __future__ import annotations

from typing import Any

import yaml

from trilho.errors import ContractError

Path = tuple[str | int, ...]


def render_path(path: Path) -> str:
    """``("schema", 0, "properties", 2, "physicalType")`` → ``schema[0].properties[2].physicalType``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def parse_yaml(text: str, source: str) -> tuple[Any, dict[Path, tuple[int, int]]]:
    """Parse ``text``; return the data and a map from each value's path to its (line, column), 1-based."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        where = f"{source}:{line}:{col}" if mark else source
        raise ContractError(
            f"{where}: malformed YAML: {exc.problem or exc.context}",
            fix="fix the YAML syntax at the position shown",
            file=source,
            line=line,
            column=col,
        ) from None
    except yaml.YAMLError as exc:
        raise ContractError(f"{source}: malformed YAML: {exc}", file=source) from None
    finally:
        loader.dispose()
    marks: dict[Path, tuple[int, int]] = {}
    if node is not None:
        _walk(node, (), marks, source)
    return data, marks


def _walk(node: yaml.Node, path: Path, marks: dict[Path, tuple[int, int]], source: str) -> None:
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                raise ContractError(
                    f"{source}:{line}:{col}: {render_path((*path, key))}: duplicate key '{key}'",
                    fix="remove or rename one of the duplicate keys",
                    file=source,
                    line=line,
                    column=col,
                    field=render_path((*path, key)),
                )
            seen.add(key)
            _walk(value_node, (*path, key), marks, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), marks, source)
