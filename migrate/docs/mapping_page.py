"""docs/mapping.md: the mapping language, from the specs, the transform registry and the engine."""

from __future__ import annotations

import inspect
import textwrap
import typing
from dataclasses import dataclass

from migrate.docs.specs import doc_paragraphs, render_sections, spec_sections, type_words
from migrate.mapping import engine, spec, values
from migrate.mapping.spec import DEFAULT_REASON, RULE_KINDS, MappingSpec, StepSpec
from migrate.mapping.transforms import TRANSFORMS, Transform
from migrate.mapping.values import ValueMapSpec
from migrate.store import REASONS

# What a key does, where its spec line carries no comment.
NOTES = {
    "MappingSpec": {
        "entity": "the target entity ([docs/model.md](model.md)); defaults to the file's name",
        "description": "free text for people",
        "sources": "the source(s) the rows come from, declared in project.yaml; several are stacked in order",
        "timezone": "zone of legacy timestamps without an offset; default: `defaults.timezone` of project.yaml",
        "columns": "one entry per target column; every required column of the model must be here",
        "filters": "rows dropped on purpose, counted as filtered under their name",
        "duplicates": "what happens to rows sharing the natural key",
        "rules": "quality rules: a failing row is rejected with the rule's reason",
    },
    "ColumnSpec": {
        "from": "source column header(s), matched after normalising (NFKC, spaces, case)",
        "const": "the same value on every row",
        "steps": "transforms applied in order: `name` or `{name: arguments}` (see [Transforms](#transforms))",
    },
    "FilterSpec": {
        "name": "the count's name in the map report (lower case, digits, `_`)",
        "column": "a source column header (raw staged text)",
        "in": "drop rows whose value is one of these texts",
        "regex": "drop rows whose value matches this regular expression",
        "empty": "`true`: drop rows where the column has no value; `false`: where it has one",
    },
    "WithinSpec": {
        "value": "a mapped decimal column",
        "min": "a mapped decimal column: the lower limit",
        "max": "a mapped decimal column: the upper limit",
    },
    "RuleSpec": {
        "name": "how the rule is named in reports (default: its kind)",
        "reason": "the reject reason code (default per kind, see below)",
        "message": "the reject message (default: says what failed)",
        "not_null": "these mapped columns must have a value",
        "unique": "these mapped columns together must be unique (checked after every chunk)",
        "in_set": "the value must be one of a list (an empty value passes)",
        "range": "a number within bounds (an empty value passes)",
        "regex": "the whole value matches a pattern (an empty value passes)",
        "compare": "two mapped columns compared; passes when either is empty",
    },
    "DuplicateSpec": {
        "policy": "`reject_all`: every row of a group is rejected; `keep_first` / `keep_last`: the "
        "first / last by `order_by` is kept, the others rejected (`duplicate_key`)",
    },
    "RangeSpec": {"column": "a mapped number column", "min": "lowest allowed", "max": "highest allowed"},
    "CompareSpec": {
        "left": "a mapped column",
        "op": "the comparison that must hold",
        "right": "a mapped column",
    },
    "InSetSpec": {"column": "a mapped column", "values": "the allowed values"},
    "RegexSpec": {"column": "a mapped column", "pattern": "a regular expression the whole value must match"},
    "ValueMapSpec": {
        "description": "free text for people",
        "strict": "`true`: an unmapped code rejects the row (`unknown_value`)",
        "default": "not strict: what unmapped codes become (none: kept as they are)",
        "match": "`normalized`: NFKC, spaces folded, case-folded (`Ｒｅｌ ` = `rel`); `exact`: as written",
        "allowed": "unified codes `migrate values import` accepts",
        "entries": "legacy code: unified code",
    },
}


@dataclass(frozen=True)
class TransformDoc:
    name: str
    description: list[str]  # paragraphs
    example: str  # a mapping column in YAML
    arguments: list[str]  # `name` (type, default ...)
    reason: str | None


def shipped_transforms() -> list[Transform]:
    """The toolkit's own transforms, in registration order (a project's are its own business)."""
    return [t for t in TRANSFORMS.values() if t.fn.__module__.startswith("migrate.")]


def transform_doc(found: Transform) -> TransformDoc:
    """A transform's docstring split at its `Example:` line, and its arguments from its signature."""
    text = inspect.cleandoc(found.fn.__doc__ or "")
    before, _, after = text.partition("\nExample:\n")
    description = [p.strip() for p in before.split("\n\n") if p.strip()]
    hints = typing.get_type_hints(found.fn)  # the signatures' annotations are strings (__future__)
    args = []
    for param in list(inspect.signature(found.fn).parameters.values())[1:]:
        if param.name == "ctx":
            continue
        default = "required" if param.default is param.empty else f"default `{param.default}`"
        if param.default is None:
            default = "optional"
        args.append(f"`{param.name}` ({type_words(hints.get(param.name), {})}, {default})")
    return TransformDoc(found.name, description, textwrap.dedent(after).strip(), args, found.reason)


def _transform_section(doc: TransformDoc) -> str:
    lines = [f"### `{doc.name}`\n", *(f"{p}\n" for p in doc.description)]
    if doc.arguments:
        lines.append("Arguments: " + "; ".join(doc.arguments) + ".\n")
    if doc.reason:
        lines.append(f"Rows it cannot handle are rejected with reason `{doc.reason}`.\n")
    lines.append(f"```yaml\n{doc.example}\n```\n")
    return "\n".join(lines)


def markdown(paragraphs: list[str]) -> str:
    """Docstring paragraphs as Markdown: a paragraph ending in `::` introduces a YAML block."""
    out, fence = [], False
    for p in paragraphs:
        if fence:
            out.append(f"```yaml\n{textwrap.dedent(p)}\n```")
            fence = False
            continue
        if p.endswith("::"):
            p, fence = p[:-1], True
        out.append(p)
    return "\n\n".join(out) + "\n"


def render() -> str:
    sections = spec_sections(MappingSpec, skip=(StepSpec,), placeholders={"columns": "<column>"})
    rules = "\n".join(f"| `{k}` | `{DEFAULT_REASON[k]}` |" for k in RULE_KINDS)
    transforms = "\n".join(_transform_section(transform_doc(t)) for t in shipped_transforms())
    return "\n".join(
        [
            "# Mapping files: `mappings/<entity>.yaml`\n",
            markdown(doc_paragraphs(spec)[1:]),
            "`migrate init` writes a commented skeleton per entity into `mappings/skeletons/`, and "
            "`migrate new mapping ENTITY --source S` writes `mappings/ENTITY.yaml` with `from:` "
            "filled in where a source column's name matches: start from one of those.\n",
            "## Keys\n",
            render_sections(sections, "The mapping file", NOTES),
            "### Rule kinds and their default reason\n",
            "| rule | reason when it fails |\n|---|---|\n" + rules + "\n",
            "## Reason codes\n",
            "Every rejected row carries exactly one of these: "
            + ", ".join(f"`{r}`" for r in REASONS)
            + ".\n",
            "## How a row is mapped\n",
            markdown(doc_paragraphs(engine)[1:]),
            "## Transforms\n",
            "A column's `steps` run in order, text in, text out; a step is a transform's name "
            "(`trim`), or one `{name: arguments}` pair (`{zero_pad: {width: 6}}`; a single "
            "value, `{zero_pad: 6}`, is the argument `value`). After the steps the value is "
            "parsed to the model's type if no step did. Projects add transforms by import path "
            "(`transforms:` in project.yaml); a mapping file only names them.\n",
            transforms,
            "## Value maps: `mappings/values/<name>.yaml` or `.xlsx`\n",
            markdown(doc_paragraphs(values)[1:]),
            render_sections([("", ValueMapSpec)], "The value-map file", NOTES),
        ]
    )
