"""Limits on what a profile file may hold, enforced while it is read.

A profile is small, hand-written YAML. Anything far beyond that (a megabyte
file, a billion-node alias bomb, 10,000 nested brackets, a 5000-digit number)
is refused with an error naming the file and line before the parser or the
validator spends memory or time on it. The numbers live in
builder/data/limits.yaml (section `profile`).
"""

from __future__ import annotations

import functools

import yaml

from builder import paths


@functools.lru_cache(maxsize=1)
def _data() -> dict:
    return yaml.safe_load((paths.data_dir() / "limits.yaml").read_text())


def limits() -> dict:
    return _data()["profile"]


def ranges() -> dict:
    return _data()["ranges"]


def excerpt(value, width: int = 40) -> str:
    """A bad value as an error may quote it: a short repr, never the whole of a long one."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= width:
        return repr(value) if isinstance(value, str) else text
    shown = repr(text[:width]) if isinstance(value, str) else text[:width]
    return f"{shown}…({len(text)} chars)"


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else f"{text[:width]}…({len(text)} chars)"


class LimitError(yaml.YAMLError):
    """A profile past one of the limits; carries the mark of the offending node."""

    def __init__(self, problem: str, mark):
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class BoundedComposer:
    """Mixin for a PyYAML Loader: depth, scalar length and integer size checked per node.

    PyYAML composes recursively, so depth is checked on the way down, before
    Python's own recursion limit turns a deeply nested file into a traceback.
    """

    _depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > limits()["depth"]:
                raise LimitError(f"nested deeper than {limits()['depth']} levels",
                                 self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_scalar_node(self, anchor):
        event = self.peek_event()
        if len(event.value) > limits()["scalar_chars"]:
            raise LimitError(f"a value of {len(event.value)} characters is longer than the "
                             f"{limits()['scalar_chars']} a profile value may have", event.start_mark)
        return super().compose_scalar_node(anchor)

    def construct_yaml_int(self, node):
        digits = node.value.replace("_", "").lstrip("+-")
        if len(digits) > limits()["int_digits"]:
            raise LimitError(f"a number of {len(digits)} digits is past any field's range", node.start_mark)
        return super().construct_yaml_int(node)


def expanded_size(root) -> int:
    """How many nodes the document has once every alias is expanded.

    Aliases share node objects, so counting with a memo over node identity
    costs one visit per distinct node: a bomb is measured, never built.
    """
    memo: dict[int, int] = {}
    cap = limits()["expanded_nodes"]

    def size(node) -> int:
        key = id(node)
        if key in memo:
            return memo[key]
        memo[key] = cap + 1         # a recursive alias counts as unbounded
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(item) for item in node.value)
        else:
            total = 1
        memo[key] = min(total, cap + 1)
        return memo[key]

    return size(root)


def check_expansion(root) -> None:
    cap = limits()["expanded_nodes"]
    if root is not None and expanded_size(root) > cap:
        raise LimitError(f"aliases expand to more than {cap} values (a YAML alias bomb?)", root.start_mark)
