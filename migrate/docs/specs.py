"""A pydantic spec as a Markdown table: every key, its type in words, its default, what it does.

What a key does comes from the trailing comment on its line in the spec's source (the
habit of the codebase: `order_by: str = "_row_id"  # a mapped column or the staging order`),
else from `NOTES` of the page that renders it. Nested specs link to their own section.
"""

from __future__ import annotations

import inspect
import io
import textwrap
import tokenize
import types
import typing
from decimal import Decimal
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

_WORDS = {
    str: "text",
    int: "integer",
    float: "number",
    bool: "true/false",
    Decimal: "decimal",
    Any: "any",
    dict: "mapping",
    list: "list",
}


def anchor(title: str) -> str:
    """The anchor GitHub gives a heading: lower case, spaces to hyphens, punctuation dropped."""
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def type_words(annotation: Any, links: dict[type, str]) -> str:
    """`str | tuple[str, ...] | None` -> `text or list of text`; specs link to their section."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is typing.Annotated:
        return type_words(args[0], links)
    if origin in (Union, types.UnionType):
        return " or ".join(type_words(a, links) for a in args if a is not type(None))
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin is tuple:
        return "list of " + type_words(args[0], links)
    if origin is dict:
        return f"mapping of {type_words(args[0], links)} to {type_words(args[1], links)}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        target = links.get(annotation)
        return f"[{target}](#{anchor(target)})" if target else "mapping"
    return _WORDS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def default_words(field: Any) -> str:
    if field.is_required():
        return "**required**"
    value = field.default
    if value is None or value is PydanticUndefined:
        return "none"
    if isinstance(value, BaseModel):
        shown = value.model_dump(exclude_defaults=False)
        return "`" + ", ".join(f"{k}: {_plain(v)}" for k, v in shown.items()) + "`" if shown else "`{}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple | list | dict) and not value:
        return "`[]`" if not isinstance(value, dict) else "`{}`"
    return f"`{value}`" if str(value).strip() else f'`"{value}"`'


def _plain(value: Any) -> str:
    """A default as YAML would spell it (`false`, `[]`, `null`), not as Python prints it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    return str(value)


@cache
def field_comments(model: type) -> dict[str, str]:
    """Trailing `# comments` on the field lines of a class's own source."""
    try:
        source = inspect.getsource(model)
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    lines = source.splitlines()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        row, col = token.start
        code = lines[row - 1][:col].strip()
        name = code.split(":", 1)[0].strip()
        if ":" in code and name.isidentifier() and name in model.model_fields:
            out[name] = token.string.lstrip("# ").strip()
    return out


def key_name(name: str, field: Any) -> str:
    return field.alias or name


def spec_table(model: type[BaseModel], links: dict[type, str], notes: dict[str, str] | None = None) -> str:
    """| key | type | default | what it does | for every field of the spec, in declaration order."""
    comments = field_comments(model)
    rows = ["| key | type | default | what it does |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        key = key_name(name, field)
        text = (notes or {}).get(key) or comments.get(name, "") or field.description or ""
        words = type_words(field.annotation, links)
        rows.append(f"| `{key}` | {words} | {default_words(field)} | {_cell(text)} |")
    return "\n".join(rows)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def doc_paragraphs(obj: Any) -> list[str]:
    """An object's docstring as paragraphs, indentation removed; an `Example:` line's indented
    YAML becomes a fenced block (as an indented block right under a line of text, Markdown would
    run it into the sentence)."""
    text = inspect.cleandoc(obj.__doc__ or "")
    out = []
    for paragraph in (p.strip("\n").rstrip() for p in text.split("\n\n") if p.strip()):
        lead, found, example = paragraph.partition("Example:\n")
        if not found or (lead and not lead.endswith("\n")):
            out.append(paragraph)
            continue
        out.append(f"{lead}Example:")
        out.append(f"```yaml\n{textwrap.dedent(example).rstrip()}\n```")
    return out


def nested_models(annotation: Any) -> list[type[BaseModel]]:
    """Spec classes an annotation holds, at any depth (`tuple[RuleSpec, ...] | None`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in nested_models(arg)]


def _child_title(parent: str, key: str, annotation: Any, placeholders: dict[str, str]) -> str:
    base = f"{parent}.{key}" if parent else key
    inner = annotation
    while get_origin(inner) in (Union, types.UnionType, typing.Annotated):
        inner = next(a for a in get_args(inner) if a is not type(None))
    if get_origin(inner) is dict:
        return f"{base}.{placeholders.get(key, '<name>')}"
    if get_origin(inner) is tuple:
        return f"{base}[]"
    return base


def spec_sections(
    root: type[BaseModel], skip: tuple[type, ...] = (), placeholders: dict[str, str] | None = None
) -> list[tuple[str, type[BaseModel]]]:
    """The root spec and every spec nested in it, breadth first, titled by their key path."""
    ordered: list[tuple[str, type[BaseModel]]] = [("", root)]
    seen = {root, *skip}
    for title, model in ordered:
        for name, field in model.model_fields.items():
            for nested in nested_models(field.annotation):
                if nested not in seen:
                    seen.add(nested)
                    key = key_name(name, field)
                    ordered.append((_child_title(title, key, field.annotation, placeholders or {}), nested))
    return ordered


def render_sections(
    sections: list[tuple[str, type[BaseModel]]],
    root_title: str,
    notes: dict[str, dict[str, str]] | None = None,
    level: str = "###",
) -> str:
    """One heading, the spec's docstring and its key table per section."""
    titles = {model: (f"`{title}`" if title else root_title) for title, model in sections}
    links = {model: title for model, title in titles.items()}
    out = []
    for _title, model in sections:
        heading = titles[model]
        body = [p for p in doc_paragraphs(model) if model.__doc__ != BaseModel.__doc__]
        out.append(f"{level} {heading}\n")
        out += [f"{p}\n" for p in body]
        out.append(spec_table(model, links, (notes or {}).get(model.__name__)) + "\n")
    return "\n".join(out)
