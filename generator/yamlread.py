"""YAML with line numbers, within bounds: the one loader for front matter and plot blocks.

The only module that imports PyYAML. Before anything is built, one pass over the event
stream (which PyYAML produces without recursion) checks the bounds, so that no input can
make loading slow, deep or large: nesting depth, the number of values after aliases are
expanded (an "alias bomb" of a few lines can stand for gigabytes), aliases to a list or
mapping that contains them, and integers too long to be numbers. Problems are
:class:`YamlError` with the file line; no message ever prints expanded data.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

MAX_DEPTH = 40
MAX_VALUES = 20_000
"""Scalars, lists and mappings counted after expanding aliases."""
MAX_INT_DIGITS = 30


@dataclass(frozen=True, slots=True)
class Node:
    """A YAML value with the 1-based file line where it starts."""

    value: Any
    """dict[str, Node] (each value at its key's line), list[Node] or a scalar."""
    line: int


class YamlError(Exception):
    def __init__(self, line: int, message: str, col: int = 0, syntax: bool = False):
        super().__init__(message)
        self.line, self.col = line, col
        self.syntax = syntax
        """True when the text is not YAML at all (the message is PyYAML's problem)."""


def load(text: str, first_line: int) -> Node | None:
    """Parse ``text`` (whose first line is file line ``first_line``) into :class:`Node` values.

    Returns None for an empty document. Duplicate keys are errors.
    """
    _check_bounds(text, first_line)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        problem = getattr(e, "problem", None) or str(e).split("\n")[0]
        raise YamlError(first_line + (mark.line if mark else 0), problem, mark.column + 1 if mark else 0,
                        syntax=True) from None
    if root is None:
        return None
    constructor = yaml.SafeLoader("")

    def scalar(node: yaml.ScalarNode, line: int):
        if node.tag == "tag:yaml.org,2002:int" and len(re.sub(r"\D", "", node.value)) > MAX_INT_DIGITS:
            raise YamlError(line, f"integer with {len(node.value)} digits is too long "
                                  f"(at most {MAX_INT_DIGITS} digits)")
        try:
            return constructor.construct_object(node)
        except (yaml.YAMLError, ValueError, OverflowError) as e:
            raise YamlError(line, f"invalid YAML value: {str(e).splitlines()[0][:200]}") from None

    def convert(node: yaml.Node) -> Node:
        line = first_line + node.start_mark.line
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Node] = {}
            for k, v in node.value:
                key_line = first_line + k.start_mark.line
                key = scalar(k, key_line) if isinstance(k, yaml.ScalarNode) else None
                if not isinstance(key, str):
                    if isinstance(key, (int, float, bool)) or key is None:
                        key = str(key) if key is not None else "null"
                    else:
                        raise YamlError(key_line, "a key must be plain text")
                if key in out:
                    raise YamlError(key_line, f"duplicate key '{key[:80]}'")
                out[key] = Node(convert(v).value, key_line)
            return Node(out, line)
        if isinstance(node, yaml.SequenceNode):
            return Node([convert(v) for v in node.value], line)
        return Node(scalar(node, line), line)

    return convert(root)


def plain(node: Node) -> Any:
    """The value without line numbers."""
    if isinstance(node.value, dict):
        return {k: plain(v) for k, v in node.value.items()}
    if isinstance(node.value, list):
        return [plain(v) for v in node.value]
    return node.value


def _check_bounds(text: str, first_line: int) -> None:
    """Depth, expanded size and recursive aliases, from the event stream (nothing is built)."""
    sizes: dict[str, int] = {}
    open_anchors: list[str | None] = []
    counts: list[int] = [0]  # values inside each open collection (the outermost is the document)
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            line = first_line + event.start_mark.line
            if isinstance(event, yaml.AliasEvent):
                if event.anchor in open_anchors:
                    raise YamlError(line, f"alias '*{event.anchor}' refers to the list or mapping that contains "
                                          "it (a recursive alias)")
                counts[-1] += sizes.get(event.anchor, 1)
            elif isinstance(event, yaml.ScalarEvent):
                counts[-1] += 1
                if event.anchor:
                    sizes[event.anchor] = 1
            elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                if len(open_anchors) >= MAX_DEPTH:
                    raise YamlError(line, f"YAML nests deeper than {MAX_DEPTH} levels")
                open_anchors.append(event.anchor)
                counts.append(1)
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                anchor, size = open_anchors.pop(), counts.pop()
                if anchor:
                    sizes[anchor] = size
                counts[-1] += size
            if counts[0] + sum(counts[1:]) > MAX_VALUES:
                raise YamlError(line, f"YAML expands to more than {MAX_VALUES} values (aliases included); "
                                      "write the values out or shorten the block")
    except yaml.YAMLError:
        return  # reported with its line by the composer
