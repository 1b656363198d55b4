"""Key hashes of the mapped rows, kept on disk by hash range, so finding duplicate groups needs
memory for one range, not the whole table.

Map remembers a 64-bit hash of each set rule's key per mapped row (with the row's `_row_id`),
to skip the SQL duplicate pass when no two rows share a hash. Held in memory this was 16 bytes
a row for the whole run (160 MB at 10M rows, three times that while the groups were found):
the one part of map whose memory grew with the source. Each chunk's pairs are appended to one
of `BUCKETS` files chosen by the hash's top bits; equal hashes always land in the same file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

BUCKETS = 16  # one bucket of a 10M-row table: ~625k pairs, 10 MB
_SHIFT = np.uint64(64 - 4)  # the top 4 bits choose the bucket (2**4 == BUCKETS)


class KeyHashes:
    """(row id, key hash) pairs of one key, appended chunk by chunk, read back a bucket at a time."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="migrate-keyhashes-")
        self.rows = 0

    def _path(self, bucket: int, part: str) -> Path:
        return Path(self._folder.name) / f"{bucket:02d}.{part}"

    def add(self, ids: np.ndarray, hashes: np.ndarray) -> None:
        buckets = (hashes >> _SHIFT).astype(np.int64)
        for bucket in np.unique(buckets):
            chosen = buckets == bucket
            with open(self._path(bucket, "ids"), "ab") as out:
                ids[chosen].astype(np.int64).tofile(out)
            with open(self._path(bucket, "hashes"), "ab") as out:
                hashes[chosen].astype(np.uint64).tofile(out)
        self.rows += len(ids)

    def shared(self, limit: int) -> np.ndarray | None:
        """Row ids whose key hash another row shares; None when there are more than `limit`."""
        found: list[np.ndarray] = []
        total = 0
        for bucket in range(BUCKETS):
            if not self._path(bucket, "ids").exists():
                continue
            ids = np.fromfile(self._path(bucket, "ids"), dtype=np.int64)
            hashes = pd.Series(np.fromfile(self._path(bucket, "hashes"), dtype=np.uint64))
            found.append(ids[hashes.duplicated(keep=False).to_numpy()])
            total += len(found[-1])
            if total > limit:
                return None
        return np.concatenate(found) if found else np.array([], dtype=np.int64)

    def close(self) -> None:
        self._folder.cleanup()
