"""Find the line of a problem path (``spec.Worker.resources``) in a YAML or JSON document.

Validation problems carry a path of wire names; a person editing the file wants a line.
YAML is mapped through PyYAML's composed node tree, which keeps every node's position;
JSON through a small position-tracking scanner (the standard parser keeps none).
Both build the same little tree, :class:`Node`, and :func:`line_of` walks it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = ["Node", "json_tree", "line_of", "tree_of", "yaml_tree"]


@dataclass
class Node:
    """A value in a document and the (1-based) line it starts on.

    ``keys`` holds, for a mapping, each key's line and value node; ``items`` holds, for a
    sequence, its item nodes. Scalars have neither.
    """

    line: int
    keys: dict[str, tuple[int, Node]] = field(default_factory=dict)
    items: list[Node] = field(default_factory=list)


def line_of(tree: Node | None, loc: Sequence[str | int]) -> int | None:
    """The line of the deepest part of ``loc`` found in ``tree``.

    For a path that is all there, that is the line of its last key (or item); for a path
    that ends in something missing (a required key), the line of the mapping that lacks it.
    """
    if tree is None:
        return None
    node, line = tree, tree.line
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool) and node.items:
            if not 0 <= part < len(node.items):
                break
            node = node.items[part]
            line = node.line
            continue
        entry = node.keys.get(str(part))
        if entry is None:
            break
        line, node = entry
    return line


def tree_of(text: str, *, yaml_syntax: bool) -> Node | None:
    """The position tree of a YAML or JSON text, or None if it cannot be parsed."""
    try:
        return yaml_tree(text) if yaml_syntax else json_tree(text)
    except ValueError:
        return None


# -- YAML ------------------------------------------------------------------------------


def yaml_tree(text: str) -> Node | None:
    """The position tree of a YAML document, from PyYAML's composed nodes."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from exc
    return None if root is None else _from_yaml(root)


def _from_yaml(node: Any) -> Node:
    result = Node(node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                # A key given twice: the parser keeps the last value, so point at it.
                result.keys[str(key.value)] = (key.start_mark.line + 1, _from_yaml(value))
    elif isinstance(node, yaml.SequenceNode):
        result.items = [_from_yaml(item) for item in node.value]
    return result


# -- JSON ------------------------------------------------------------------------------


_WHITESPACE = " \t\r\n"
_DELIMITERS = _WHITESPACE + ",]}:"


class _Scanner:
    """A recursive-descent reader of JSON that records where each value starts."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1

    def fail(self, what: str) -> ValueError:
        return ValueError(f"line {self.line}: expected {what}")

    def skip_space(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _WHITESPACE:
            if text[pos] == "\n":
                self.line += 1
            pos += 1
        self.pos = pos

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self.fail(repr(char))
        self.pos += 1

    def string(self) -> str:
        if self.peek() != '"':
            raise self.fail("a string")
        start = end = self.pos + 1
        while end < len(self.text) and self.text[end] != '"':
            end += 2 if self.text[end] == "\\" else 1
        if end >= len(self.text):
            raise self.fail("the end of a string")
        self.pos = end + 1
        # Newlines cannot appear raw inside a JSON string, so the line does not change.
        value = json.loads(self.text[start - 1 : end + 1])
        assert isinstance(value, str)
        return value

    def value(self) -> Node:
        char = self.peek()
        node = Node(self.line)
        if char == "{":
            self.pos += 1
            if self.peek() == "}":
                self.pos += 1
                return node
            while True:
                self.peek()
                key_line = self.line
                key = self.string()
                self.expect(":")
                # A key given twice: json.loads keeps the last value, so point at it.
                node.keys[key] = (key_line, self.value())
                if self.peek() == ",":
                    self.pos += 1
                    continue
                self.expect("}")
                return node
        if char == "[":
            self.pos += 1
            if self.peek() == "]":
                self.pos += 1
                return node
            while True:
                node.items.append(self.value())
                if self.peek() == ",":
                    self.pos += 1
                    continue
                self.expect("]")
                return node
        if char == '"':
            self.string()
            return node
        if not char:
            raise self.fail("a value")
        while self.pos < len(self.text) and self.text[self.pos] not in _DELIMITERS:
            self.pos += 1
        return node


def json_tree(text: str) -> Node:
    """The position tree of a JSON document."""
    return _Scanner(text).value()
