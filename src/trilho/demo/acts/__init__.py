"""The demo's acts, in story order; each module owns one act."""

from trilho.demo.acts import contracts_golden
from trilho.demo.runner import Act

ACTS: list[tuple[str, Act]] = [
    ("contracts and golden tests", contracts_golden.act),
]
