"""Load YAML config/rules files with line numbers, validate them with pydantic.

Every error names file:line and what was expected (pySigma's habit): the
YAML loader remembers where each mapping key and list item started, and
pydantic's error locations are walked back to those lines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ValidationError

from secaudit.errors import ConfigError

__all__ = [
    "LineDict",
    "LineList",
    "Regex",
    "config_errors",
    "line_of",
    "load_model",
    "load_yaml",
    "not_utf8",
]

M = TypeVar("M", bound=BaseModel)


def _compiles(pattern: str) -> str:
    """A regex that does not compile is a config error (re.error is not a ValueError)."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return pattern


Regex = Annotated[str, AfterValidator(_compiles)]
"""A config string that must be a valid Python regular expression."""


class LineDict(dict[Any, Any]):
    """A mapping that knows its own line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]


class LineList(list[Any]):
    """A sequence that knows its own line and the line of each item (1-based)."""

    line: int = 0
    item_lines: list[int]


# libyaml's C parser when available (a 5,000-asset policy loads ~10x faster); same marks.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    own: set[Any] = set()
    for key_node, _ in node.value:  # a key written twice is a mistake; a merged one is not
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "a key must be a plain value, not a list or mapping",
                key_node.start_mark,
            )
        if key in own:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        own.add(key)
    loader.flatten_mapping(node)  # `<<: *defaults` merge keys, the mapping's own keys win
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


# A document's nodes with every alias expanded: far above any real policy (a 5,000-asset
# policy is ~60,000), far below what a nested-alias ("billion laughs") document expands to,
# which would otherwise hang the validation and fill memory.  A larger document is refused
# only when its aliases multiply it: expanded more than ALIAS_GROWTH times its own nodes (a
# huge policy written out in full, with a few `<<: *defaults`, still loads).
MAX_EXPANDED_NODES = 2_000_000
ALIAS_GROWTH = 10


def _load_bounded(text: str, source: str) -> Any:
    """Parse one YAML document, refusing it before construction when its aliases would
    expand it beyond MAX_EXPANDED_NODES."""
    loader = _LineLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        # no '&', no anchor, so no alias: the document is as large as its text says
        if "&" in text and _alias_bomb(node):
            raise ConfigError(
                f"YAML aliases expand the document to more than {MAX_EXPANDED_NODES:,} values "
                "(nested anchors and aliases, a 'billion laughs' document?); refused",
                source,
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _alias_bomb(root: yaml.Node) -> bool:
    expanded, distinct = _expanded_size(root)
    return expanded > MAX_EXPANDED_NODES and expanded > ALIAS_GROWTH * distinct


def _expanded_size(root: yaml.Node) -> tuple[int, int]:
    """(nodes of `root` with aliases expanded, distinct nodes): each distinct node is sized
    once (the composed graph shares an aliased node; a node inside its own alias counts
    once)."""
    cap = 1 << 62  # a deeper bomb stays a small integer
    sizes: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # post-order without recursion (documents may nest deeply)
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        if children_done:
            open_.discard(key)
            sizes[key] = min(cap, 1 + sum(sizes.get(id(c), 1) for c in _children(node)))
            continue
        if key in open_:  # a cycle back to a node being sized
            continue
        open_.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in sizes)
    return sizes[id(root)], len(sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def not_utf8(exc: UnicodeDecodeError, source: str, what: str) -> ConfigError:
    """The error for a text input that is not UTF-8 (a Chinese Windows editor's GBK): the
    line, offset and byte, and what to do about it."""
    bad = exc.object[exc.start]
    return ConfigError(
        f"not UTF-8 text (byte 0x{bad:02x} at offset {exc.start}); save {what} as UTF-8",
        source,
        line=exc.object[: exc.start].count(b"\n") + 1,
    )


def load_yaml(path: str | Path, *, missing_ok: bool = False) -> Any:
    """Parse a YAML file into LineDict/LineList; syntax errors become ConfigError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return None
        raise ConfigError("file not found", str(p)) from None
    except UnicodeDecodeError as exc:  # e.g. saved as GBK
        raise not_utf8(exc, str(p), "the file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc}", str(p)) from exc
    try:
        return _load_bounded(text, str(p))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        what = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"YAML syntax error: {what}", str(p), line=line, column=col) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", str(p)) from exc


def line_of(data: Any, loc: Sequence[int | str]) -> int | None:
    """Line of the deepest node on `loc` that the loader annotated."""
    line: int | None = getattr(data, "line", None) or None
    node = data
    for part in loc:
        if isinstance(node, LineDict) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line


def config_errors(exc: ValidationError, data: Any, source: str) -> list[ConfigError]:
    """One ConfigError per pydantic error, each with file:line and what was expected."""
    errors = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if isinstance(p, (int, str))]
        field = ".".join(str(p) for p in loc) or "(top level)"
        msg = err["msg"]
        if err.get("type") == "extra_forbidden":
            msg = "unknown key (not expected here)"
        errors.append(ConfigError(f"{field}: {msg}", source, line=line_of(data, loc)))
    return errors


def load_model(model: type[M], path: str | Path, data: Any = None) -> M:
    """Load `path` (or already-loaded `data`) into `model`; first error raised as ConfigError.

    All errors are attached as `.all_errors` so a linter can print every one.
    """
    source = str(path)
    if data is None:
        data = load_yaml(path)
    if data is None:
        raise ConfigError(f"empty file, expected a {model.__name__} mapping", source, line=1)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = config_errors(exc, data, source)
        first = errors[0]
        first.all_errors = errors  # type: ignore[attr-defined]
        raise first from None
