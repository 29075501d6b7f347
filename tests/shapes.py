"""Read the contract's error shapes in tests: the nested ``ValidationError`` detail."""

from __future__ import annotations

from typing import Any


def messages_at(detail: dict[str, Any], location: str, field: str) -> list[str]:
    """The messages at dotted ``field`` of ``location`` in a nested ``ValidationError`` detail.

    Errors are nested by path as marshmallow writes them (``{"json": {"orders": {"0":
    {"type": [...]}}}}``); a field that also has errors of its parts keeps its own under
    ``_schema``. Raises ``AssertionError`` when nothing is reported there.
    """
    node: Any = detail.get(location)
    assert isinstance(node, dict), detail
    for part in field.split("."):
        assert isinstance(node, dict) and part in node, (field, detail)
        node = node[part]
    if isinstance(node, dict):
        node = node.get("_schema")
    assert isinstance(node, list) and node, (field, detail)
    assert all(isinstance(m, str) and m for m in node), detail
    return list(node)


def has_error(detail: dict[str, Any], location: str, field: str) -> bool:
    """Whether the nested detail reports anything at dotted ``field`` of ``location``."""
    node: Any = detail.get(location)
    for part in field.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return bool(node)
