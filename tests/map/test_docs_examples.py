"""The docstrings the reference docs are generated from: every transform and every new
mapping construct has an `Example:` that parses as what it documents."""

from __future__ import annotations

import yaml

from migrate.mapping import spec
from migrate.mapping.transforms import TRANSFORMS

CONSTRUCTS = (
    spec.ConditionSpec,
    spec.LookupSpec,
    spec.CaseSpec,
    spec.ColumnSpec,
    spec.FilterSpec,
    spec.JoinSpec,
    spec.ValiditySpec,
    spec.UnpivotSpec,
    spec.NumberWithinSpec,
    spec.AggregateSpec,
    spec.SourceBlockSpec,
    spec.MappingSpec,
)


def example(doc: str | None) -> object:
    assert doc and "\nExample:\n" in doc.replace("    Example:", "Example:"), doc
    return yaml.safe_load(doc.split("Example:", 1)[1])


def test_every_transform_example_is_a_column_using_it():
    built_in = {n: t for n, t in TRANSFORMS.items() if t.fn.__module__ == "migrate.mapping.transforms"}
    assert len(built_in) >= 21  # other tests register project transforms of their own
    for name, found in built_in.items():
        ((_, column),) = example(found.fn.__doc__).items()
        parsed = spec.ColumnSpec.model_validate(column)
        assert name in {s.name for s in parsed.steps}, name


def test_every_construct_has_a_parsing_example_and_described_fields():
    for model in CONSTRUCTS:
        data = example(model.__doc__)
        assert isinstance(data, dict), model.__name__
        for name, field in model.model_fields.items():
            if name not in ("description", "duplicates", "rules"):
                assert field.description, f"{model.__name__}.{name}"
