"""Shell command blocks of a Markdown file, as a reader would copy them (pure, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(r"^```(\w*)\s*$")
_SHELLS = {"bash", "sh", "shell", "console"}


@dataclass(frozen=True)
class Block:
    """One fenced shell block: the heading it sits under, its line in the file and its commands."""

    heading: str
    line: int
    commands: tuple[str, ...]


def logical_lines(text: str) -> list[str]:
    """Split a shell block into commands: backslash continuations joined, heredocs kept with their command."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):  # blank lines and comment lines run nothing
            continue
        while line.rstrip().endswith("\\") and i < len(lines):
            line = line.rstrip()[:-1].rstrip() + " " + lines[i].strip()
            i += 1
        heredoc = re.search(r"<<-?\s*'?\"?(\w+)'?\"?", line)
        if heredoc:
            end = heredoc.group(1)
            body = [line]
            while i < len(lines):
                body.append(lines[i])
                i += 1
                if lines[i - 1].strip() == end:
                    break
            line = "\n".join(body)
        out.append(line)
    return out


def shell_blocks(markdown: str) -> list[Block]:
    """Every fenced bash/sh block of `markdown`, in order."""
    blocks: list[Block] = []
    heading = ""
    lang: str | None = None
    start = 0
    body: list[str] = []
    for n, line in enumerate(markdown.splitlines(), start=1):
        fence = _FENCE.match(line)
        if lang is None:
            if line.startswith("#"):
                heading = line.lstrip("#").strip()
            if fence:
                lang, start, body = fence.group(1), n, []
            continue
        if line.strip() == "```":
            if lang in _SHELLS:
                blocks.append(Block(heading, start, tuple(logical_lines("\n".join(body)))))
            lang = None
            continue
        body.append(line)
    return blocks
