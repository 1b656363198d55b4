"""The allowed values documented with their meanings are exactly those the CHECK constraints allow."""

from __future__ import annotations

import re

from sqlalchemy import CheckConstraint

from migrate.model import ALLOWED_VALUES, MODEL_TABLES


def _checked_enumerations() -> dict[str, tuple[str, ...]]:
    found = {}
    for table in MODEL_TABLES:
        for constraint in table.constraints:
            if not isinstance(constraint, CheckConstraint):
                continue
            match = re.search(r"(\w+) IN \(([^)]*)\)", str(constraint.sqltext))
            if match:
                found[f"{table.name}.{match.group(1)}"] = tuple(re.findall(r"'([^']*)'", match.group(2)))
    return found


def test_every_enumeration_has_its_meanings():
    checked = _checked_enumerations()
    assert {k: tuple(v) for k, v in ALLOWED_VALUES.items()} == checked
    for meanings in ALLOWED_VALUES.values():
        assert all(len(text) > 5 for text in meanings.values())
