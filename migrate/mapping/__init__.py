"""Map and validate (issue 4): staged legacy rows -> the unified model's mapped rows, or rejects.

`map_entities(project, entities, simulate=...)` is the stage; mapping files are parsed by
`spec`, transforms live in `transforms`, value maps in `values`, quality rules in `rules`.
The stage is imported on first use (`migrate.lazyexports`): a module that needs the specs
only (load's refused rows, the docs) does not import pandas, pyarrow and openpyxl with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrate.lazyexports import lazy_exports

if TYPE_CHECKING:
    from migrate.mapping.engine import EntityResult, MapResult, map_entities

_HOMES = {"EntityResult": "engine", "MapResult": "engine", "map_entities": "engine"}
__all__ = ["EntityResult", "MapResult", "map_entities"]
__getattr__ = lazy_exports(__name__, _HOMES)
