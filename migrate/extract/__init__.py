"""Extract: declared legacy sources into `stg_<source>` tables of the work store, with lineage,
fingerprints and located errors. Public API: `extract`, `check_sources`, `sources_for_phase`.

The API is imported on first use (PEP 562): the segmented xlsx read's worker processes import
readers from this package and need none of the stage's database machinery."""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrate.lazyexports import lazy_exports

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


__getattr__ = lazy_exports(__name__, _HOMES)
