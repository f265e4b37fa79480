"""JSON and YAML that people hand us (params, cards, policies, metrics, ``--param`` values), parsed
within bounds: nesting, YAML aliases (a "billion laughs" document is a few hundred bytes that
expand to billions of values) and integer size. Beyond them the input is refused with an
``InvalidInput`` naming it, never a RecursionError or a ValueError traceback.

Integers are kept exactly up to ``MAX_INT_DIGITS`` decimal digits and refused beyond: the bound
is Python's own default for converting between integers and text, fixed here so that what is
accepted does not depend on the interpreter's setting."""

from __future__ import annotations

import json
import os
from typing import Any

from modelledger.core.errors import InvalidInput
from modelledger.core.files import DOCUMENT_LIMIT, read_text, shown

MAX_DEPTH = 100  # lists and mappings inside one another
MAX_ALIASES = 100  # YAML ``*alias`` uses in one document
MAX_EXPANDED = 100_000  # values a document with aliases stands for, once they are expanded
MAX_INT_DIGITS = 4300
_INT_LIMIT = 10**MAX_INT_DIGITS


def _too_deep(what: str) -> InvalidInput:
    return InvalidInput(f"{what}: nested more than {MAX_DEPTH} levels deep")


def _too_long(what: str, digits: int | None = None) -> InvalidInput:
    size = f"of {digits:,} digits " if digits else ""
    return InvalidInput(
        f"{what}: an integer {size}is longer than the {MAX_INT_DIGITS:,} digits allowed"
    )


def _depth_ok(value: Any) -> bool:
    """Whether ``value`` nests at most ``MAX_DEPTH`` levels (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def loads_json(text: str | bytes, what: str) -> Any:
    """``json.loads`` within the bounds. Bad syntax still raises ``json.JSONDecodeError`` (the
    caller decides what that means); a document beyond the bounds raises InvalidInput."""

    def bounded_int(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_INT_DIGITS:
            raise _too_long(what, len(digits.lstrip("-")))
        return int(digits)

    try:
        value = json.loads(text, parse_int=bounded_int)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise _too_deep(what) from None
    except ValueError as exc:  # an integer beyond this interpreter's own (lowered) limit
        raise InvalidInput(f"{what}: {exc}".split("; use sys.")[0]) from None
    if not _depth_ok(value):
        raise _too_deep(what)
    return value


def loads_yaml(text: str, what: str) -> Any:
    """``yaml.safe_load`` within the bounds (YAML is a superset of JSON); InvalidInput for a
    syntax error (with its line) or a document beyond the bounds."""
    import yaml

    loader = _loader_class()(text)
    loader.what = what
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InvalidInput(f"{what}: not valid JSON or YAML{where}") from None
    except RecursionError:
        raise _too_deep(what) from None
    finally:
        loader.dispose()


def load_mapping(
    path: str | os.PathLike[str], option: str, limit: int = DOCUMENT_LIMIT
) -> dict[str, Any]:
    """A JSON or YAML mapping read from a regular file of at most ``limit`` bytes, or
    InvalidInput saying what is wrong with the file."""
    return parse_mapping(read_text(path, option, limit), f"{option} {shown(path)}")


def parse_mapping(text: str, what: str) -> dict[str, Any]:
    data = loads_yaml(text, what)
    if not isinstance(data, dict):
        raise InvalidInput(f"{what}: expected a mapping of keys to values")
    return data


_LOADER: list[type[Any]] = []


def _loader_class() -> type[Any]:
    """The bounded loader, built on first use (PyYAML is imported only by commands that read
    a document)."""
    if _LOADER:
        return _LOADER[0]
    import yaml
    from yaml.nodes import MappingNode, SequenceNode

    class Bounded(yaml.SafeLoader):
        what = "document"

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.depth = 0
            self.aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_ALIASES:
                    raise InvalidInput(
                        f"{self.what}: more than {MAX_ALIASES} YAML aliases (*name); "
                        "write the values out"
                    )
                return super().compose_node(parent, index)
            if self.check_event(yaml.ScalarEvent):
                return super().compose_node(parent, index)
            self.depth += 1
            try:
                if self.depth > MAX_DEPTH:
                    raise _too_deep(self.what)
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def get_single_node(self) -> Any:
            node = super().get_single_node()
            if node is not None and self.aliases:
                _check_expansion(node, self.what)
            return node

        def construct_yaml_int(self, node: Any) -> int:
            digits = str(node.value).replace("_", "").lstrip("+-")
            if len(digits) > MAX_INT_DIGITS + 2:  # beyond any base's prefix
                raise _too_long(self.what, len(digits))
            value = int(super().construct_yaml_int(node))
            if abs(value) >= _INT_LIMIT:  # hexadecimal, octal or binary digits
                raise _too_long(self.what)
            return value

    def _check_expansion(root: Any, what: str) -> None:
        """Refuse a node graph that stands for more than ``MAX_EXPANDED`` values, or nests
        deeper than ``MAX_DEPTH``, once its aliases are expanded, or that holds itself (a
        recursive alias)."""
        sizes: dict[int, int] = {}
        heights: dict[int, int] = {}
        on_path: set[int] = set()
        stack: list[tuple[Any, bool]] = [(root, False)]
        while stack:
            node, done = stack.pop()
            key = id(node)
            if done:
                on_path.discard(key)
                kids = _children(node)
                sizes[key] = 1 + sum(sizes[id(k)] for k in kids)
                heights[key] = (
                    1 + max((heights[id(k)] for k in kids), default=0)
                    if (isinstance(node, SequenceNode | MappingNode))
                    else 0
                )
                if heights[key] > MAX_DEPTH:
                    raise _too_deep(what)
                if sizes[key] > MAX_EXPANDED:
                    raise InvalidInput(
                        f"{what}: its YAML aliases expand to more than {MAX_EXPANDED:,} values"
                    )
                continue
            if key in sizes:
                continue
            if key in on_path:
                raise InvalidInput(f"{what}: a YAML alias refers to the value that holds it")
            on_path.add(key)
            stack.append((node, True))
            stack.extend((k, False) for k in _children(node) if id(k) not in sizes)

    def _children(node: Any) -> list[Any]:
        if isinstance(node, SequenceNode):
            return list(node.value)
        if isinstance(node, MappingNode):
            return [part for pair in node.value for part in pair]
        return []

    Bounded.add_constructor("tag:yaml.org,2002:int", Bounded.construct_yaml_int)
    _LOADER.append(Bounded)
    return Bounded
