"""Read a YAML file into plain data while remembering where every value came from.

Lab and inventory files are hand-written, so every problem must point at a file, line and column.
We compose the YAML node tree ourselves (rather than letting the loader build dicts) so that
duplicate keys are all reported, not just the first, and every path in the data has a position.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.errors import InputError

PathPart = str | int
DataPath = tuple[PathPart, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"
# Bounds for hostile files. A 32-host lab is a few thousand values nested about ten deep; an
# alias bomb (9 aliases of 9 aliases ...) expands to billions, and 5,000 nested brackets
# overflow the recursive composer.
MAX_DEPTH = 64
MAX_VALUES = 100_000


class _TooLarge(Exception):
    def __init__(self, node: Node) -> None:
        self.node = node
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def render_path(path: Sequence[PathPart]) -> str:
    """Render a data path the way a reader of the YAML file would say it.

    `("hosts", "esx01", "vmknics", "vmk1", "ip")` -> `hosts.esx01.vmknics.vmk1.ip`;
    keys with dots or spaces are quoted: `port_groups["Management Network"]`.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out or "(top level)"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located as precisely as the file allows."""

    file: str
    line: int  # 1-based
    column: int  # 1-based
    path: str  # dotted data path, or "" for syntax errors
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class InputFileError(InputError):
    """A lab or inventory file could not be loaded; carries every problem found in it."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class SourceDocument:
    """Plain data of one YAML file plus the position of every key and value in it."""

    path: Path
    data: Any
    values: dict[DataPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[DataPath, tuple[int, int]] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        return str(self.path)

    def position(self, path: Sequence[PathPart], *, key: bool = False) -> tuple[int, int]:
        """Best position for a data path: the path itself, else its nearest known parent."""
        p = tuple(path)
        while True:
            table = self.keys if key and p in self.keys else self.values
            if p in table:
                return table[p]
            if not p:
                return (1, 1)
            p = p[:-1]

    def problem(self, path: Sequence[PathPart], message: str, *, key: bool = False) -> Problem:
        line, col = self.position(path, key=key)
        return Problem(self.display_name, line, col, render_path(path), message)

    def get(self, path: Iterable[PathPart]) -> Any:
        """The plain value at a data path, or None when it is absent."""
        node = self.data
        for part in path:
            in_dict = isinstance(node, dict) and part in node
            in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            if not (in_dict or in_list):
                return None
            node = node[part]
        return node


def _mark(node: Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, doc: SourceDocument, yaml: YAML) -> None:
        self.doc = doc
        self.yaml = yaml
        self.problems: list[Problem] = []
        self.built = 0

    def build(self, node: Node, path: DataPath) -> Any:
        self.built += 1
        if self.built > MAX_VALUES:
            raise _TooLarge(node)
        self.doc.values[path] = _mark(node)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        return None  # pragma: no cover - the composer only makes these three kinds

    def _scalar(self, node: ScalarNode, path: DataPath) -> Any:
        """Construct one scalar; an explicit tag it does not fit (`!!int abc`) is a problem."""
        try:
            return self.yaml.constructor.construct_object(node, deep=True)
        except (MarkedYAMLError, ValueError, TypeError, ArithmeticError, LookupError) as exc:
            line, col = _mark(node)
            tag = str(node.tag).rsplit(":", 1)[-1]
            why = exc.problem if isinstance(exc, MarkedYAMLError) else exc
            self.problems.append(
                Problem(self.doc.display_name, line, col, render_path(path),
                        f"{node.value!r} is not a valid !!{tag} ({why}); "
                        "drop the explicit tag or fix the value")
            )
            return None

    def _mapping(self, node: MappingNode, path: DataPath) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        first_seen: dict[Any, tuple[int, int]] = {}
        merged: list[tuple[Any, Any]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self._merge_sources(value_node, path, _mark(key_node)))
                continue
            if not isinstance(key_node, ScalarNode):
                line, col = _mark(key_node)
                self.problems.append(
                    Problem(self.doc.display_name, line, col, render_path(path),
                            "a key must be a plain name, not a list or mapping")
                )
                continue
            key = self._scalar(key_node, path)
            if not isinstance(key, (str, int)):
                key = str(key_node.value)
            if key in first_seen:
                line, col = _mark(key_node)
                first_line = first_seen[key][0]
                self.problems.append(
                    Problem(self.doc.display_name, line, col, render_path((*path, key)),
                            f"duplicate key {key!r} (first defined on line {first_line}); "
                            "each key may appear once")
                )
                continue
            first_seen[key] = _mark(key_node)
            self.doc.keys[(*path, key)] = _mark(key_node)
            out[key] = self.build(value_node, (*path, key))
        # `<<: *defaults` fills in keys that the mapping does not set itself.
        for key, value in merged:
            out.setdefault(key, value)
        return out

    def _merge_sources(self, node: Node, path: DataPath, at: tuple[int, int]
                       ) -> list[tuple[Any, Any]]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        pairs: list[tuple[Any, Any]] = []
        for source in sources:
            if not isinstance(source, MappingNode):
                line, col = at  # the alias shares its anchor's position: point at the `<<`
                self.problems.append(
                    Problem(self.doc.display_name, line, col, render_path(path),
                            "`<<` merges only mappings (an anchor like `&defaults` on a mapping)")
                )
                continue
            for key, value in self._mapping(source, path).items():
                pairs.append((key, value))
        return pairs


def _flow_depth_problem(name: str, text: str) -> Problem | None:
    """Brackets nested deeper than MAX_DEPTH, found by a plain scan of the text (YAML's
    scanner keeps a candidate key per open bracket and slows down quadratically on them)."""
    depth, line, col, quote, comment = 0, 1, 0, "", False
    prev = "\n"
    for ch in text:
        col += 1
        if ch == "\n":  # quoted scalars may span lines: `quote` carries over
            line, col, comment = line + 1, 0, False
        elif comment:
            pass
        elif quote:
            if ch == quote and not (quote == '"' and prev == "\\"):
                quote = ""
        elif ch == "#" and prev in " \t\n":
            comment = True
        elif ch in "\"'" and prev in " \t\n[{,:":
            quote = ch
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return Problem(name, line, col, "",
                               f"nested more than {MAX_DEPTH} levels deep; a lab needs about ten")
        elif ch in "]}":
            depth = max(0, depth - 1)
        prev = ch
    return None


def _check_depth(name: str, yaml: YAML, text: str) -> None:
    """Reject nesting deeper than MAX_DEPTH where it happens, before the recursive composer
    could overflow on it: brackets by a scan of the text, indentation from the parser's event
    stream (which is not recursive)."""
    flow = _flow_depth_problem(name, text)
    if flow is not None:
        raise InputFileError([flow])
    depth = 0
    for event in yaml.parse(text):
        kind = type(event).__name__
        if kind in ("MappingStartEvent", "SequenceStartEvent"):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                raise InputFileError([Problem(
                    name, mark.line + 1, mark.column + 1, "",
                    f"nested more than {MAX_DEPTH} levels deep; a lab needs about ten")])
        elif kind in ("MappingEndEvent", "SequenceEndEvent"):
            depth -= 1


def load_yaml(path: Path, text: str | None = None) -> SourceDocument:
    """Parse one YAML file into a SourceDocument.

    Raises:
        InputFileError: on unreadable files, syntax errors, several documents, or duplicate keys.
    """
    name = str(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputFileError([Problem(name, 1, 1, "", "no such file")]) from None
        except IsADirectoryError:
            raise InputFileError([Problem(name, 1, 1, "", "is a directory, not a file")]) from None
        except UnicodeDecodeError as exc:
            raise InputFileError(
                [Problem(name, 1, 1, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
            ) from None
        except OSError as exc:
            problem = Problem(name, 1, 1, "", f"cannot read: {exc.strerror}")
            raise InputFileError([problem]) from None
    yaml = YAML(typ="safe", pure=True)
    yaml.version = (1, 2)  # YAML 1.2: `no`/`yes` stay strings, MACs are never sexagesimal numbers
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a reused anchor is legal YAML 1.2
            _check_depth(name, yaml, text)
            node = yaml.compose(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        began = exc.context_mark
        if began is not None and mark is not None and began.line != mark.line:
            if str(exc.context or "").startswith("while parsing a flow"):
                # an unclosed [ or {: the fault is where it was opened, not where YAML noticed
                message = (f"{'[' if 'sequence' in str(exc.context) else '{'} opened here is "
                           f"never closed ({exc.problem} on line {line})")
                line, col = began.line + 1, began.column + 1
            else:
                message += f" (it began on line {began.line + 1}, column {began.column + 1})"
        raise InputFileError([Problem(name, line, col, "", f"YAML syntax: {message}")]) from None
    except YAMLError as exc:
        raise InputFileError([Problem(name, 1, 1, "", f"YAML syntax: {exc}")]) from None
    doc = SourceDocument(path=path, data=None)
    if node is None:
        raise InputFileError([Problem(name, 1, 1, "", "the file is empty")])
    builder = _Builder(doc, yaml)
    try:
        doc.data = builder.build(node, ())
    except _TooLarge as exc:
        line, col = _mark(exc.node)
        raise InputFileError([Problem(
            name, line, col, "", f"the file expands to more than {MAX_VALUES} values (aliases "
            "of aliases: a YAML alias bomb?); a lab needs far fewer")]) from None
    if builder.problems:
        raise InputFileError(builder.problems)
    if not isinstance(doc.data, dict):
        raise InputFileError(
            [Problem(name, 1, 1, "", "the top level must be a mapping of sections (key: value)")]
        )
    return doc
