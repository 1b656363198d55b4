"""Map and validate (issue 4): staged legacy rows -> the unified model's mapped rows, or rejects.

`map_entities(project, entities, simulate=...)` is the stage; mapping files are parsed by
`spec`, transforms live in `transforms`, value maps in `values`, quality rules in `rules`.
"""

from migrate.mapping.engine import EntityResult, MapResult, map_entities

__all__ = ["EntityResult", "MapResult", "map_entities"]
