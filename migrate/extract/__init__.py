"""Extract: declared legacy sources into `stg_<source>` tables of the work store, with lineage,
fingerprints and located errors. Public API: `extract`, `check_sources`, `sources_for_phase`.

The API is imported on first use (PEP 562): the segmented xlsx read's worker processes import
readers from this package and need none of the stage's database machinery."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migrate.extract.check import SourceCheck, SourcesReport, check_sources, used_columns_from_mappings
    from migrate.extract.stage import (
        ExtractResult,
        SourceResult,
        extract,
        selected_sources,
        sources_for_phase,
    )

_HOMES = {
    "extract": "stage",
    "selected_sources": "stage",
    "sources_for_phase": "stage",
    "ExtractResult": "stage",
    "SourceResult": "stage",
    "check_sources": "check",
    "used_columns_from_mappings": "check",
    "SourceCheck": "check",
    "SourcesReport": "check",
}
__all__ = [
    "ExtractResult",
    "SourceCheck",
    "SourceResult",
    "SourcesReport",
    "check_sources",
    "extract",
    "selected_sources",
    "sources_for_phase",
    "used_columns_from_mappings",
]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"migrate.extract.{_HOMES[name]}"), name)
    globals()[name] = value
    return value
