"""The one way the toolkit reads YAML: size-limited, alias-bounded, data only.

Every project file (project.yaml, the plan, mappings, value maps, reconcile and rollback
plans) is read by `load_yaml`. PyYAML keeps an alias as a shared node, so a "billion
laughs" block parses in microseconds; it is whoever walks the result afterwards (our
`${VAR}` interpolation, pydantic, an error message) that expands it to gigabytes. So the
guard counts the nodes the document would have with every alias expanded — on the node
graph, before anything is constructed — and refuses past a small budget. A file larger
than `MAX_BYTES` is refused before it is read.

`guard_yaml(text, shown)` is the same check for code that parses with another library
(a comment-preserving round-trip): call it on the text first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from migrate.errors import ConfigError

MAX_BYTES = 5 * 1024 * 1024  # a project file past 5 MiB is a mistake (or an attack), not a config
ALIAS_BUDGET = 100_000  # nodes that aliases may add beyond the document's own nodes
EXCERPT = 40  # characters of an input value a message may show

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it: same rules, faster


def excerpt(value: object, limit: int = EXCERPT) -> str:
    """A value as a message may show it: its repr, cut to `limit` characters."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _expanded_size(root: yaml.Node, shown: str) -> int:
    """Nodes in the document with every alias expanded, computed once per distinct node.
    A node that contains itself (`&a [*a]`) would expand forever: refused."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise ConfigError(
                "an alias refers to a node that contains it (a recursive YAML alias).",
                file=shown,
                hint="Write the value out instead of using a recursive anchor.",
            )
        open_nodes.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        open_nodes.discard(key)
        sizes[key] = total
        return total

    return size(root) - len(sizes) if root is not None else 0


def _check_aliases(node: yaml.Node | None, shown: str) -> None:
    if node is not None and _expanded_size(node, shown) > ALIAS_BUDGET:
        raise ConfigError(
            f"YAML aliases would expand this file past {ALIAS_BUDGET:,} extra values "
            "(an alias bomb); nothing was read.",
            file=shown,
            hint="Write the values out, or use anchors only for small repeated blocks.",
        )


def _syntax_error(exc: yaml.YAMLError, shown: str) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    return ConfigError(f"{shown} is not valid YAML{where}: {excerpt(problem, 120)}.")


def _compose(text: str, shown: str) -> tuple[Any, yaml.Node | None]:
    loader = _Loader(text)
    try:
        return loader, loader.get_single_node()
    except yaml.YAMLError as exc:
        loader.dispose()
        raise _syntax_error(exc, shown) from None


def guard_yaml(text: str, shown: str) -> None:
    """Refuse YAML text that is too large or whose aliases would expand past the budget."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise _too_large(shown, len(text))
    loader, node = _compose(text, shown)
    loader.dispose()
    _check_aliases(node, shown)


def _too_large(shown: str, size: int) -> ConfigError:
    return ConfigError(
        f"the file is {size / 1024 / 1024:.1f} MiB; project files may be at most "
        f"{MAX_BYTES // 1024 // 1024} MiB. Nothing was read.",
        file=shown,
        hint="Split it (one mapping per entity, one value map per code list), or keep large "
        "code lists in an .xlsx value map.",
    )


def _read_text(path: Path, shown: str) -> str:
    """A project file's text, refused before reading when it is too large."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ConfigError(
            f"{shown} does not exist.", hint="Run `migrate init` to scaffold a project."
        ) from None
    if size > MAX_BYTES:
        raise _too_large(shown, size)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{shown} is not UTF-8 text ({exc.reason}).") from None


def read_guarded_text(path: Path, shown: str) -> str:
    """A YAML file's text after the checks `load_yaml` makes (size, alias budget), for a
    round-trip parser (ruamel.yaml) that edits it."""
    text = _read_text(path, shown)
    guard_yaml(text, shown)
    return text


def load_yaml(path: Path, shown: str) -> Any:
    """Parse a YAML file as data (no tags, no objects), within the size and alias limits."""
    text = _read_text(path, shown)
    loader, node = _compose(text, shown)
    try:
        _check_aliases(node, shown)
        return loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, shown) from None
    finally:
        loader.dispose()
