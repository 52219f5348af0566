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

__all__ = ["LineDict", "LineList", "Regex", "config_errors", "line_of", "load_model", "load_yaml"]

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
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out.key_lines:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
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


def load_yaml(path: str | Path, *, missing_ok: bool = False) -> Any:
    """Parse a YAML file into LineDict/LineList; syntax errors become ConfigError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return None
        raise ConfigError("file not found", str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read file: {exc}", str(p)) from exc
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
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
