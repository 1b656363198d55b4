"""Key hashes kept on disk by hash range (`mapping/keyhashes.py`): the rows sharing a hash are
found whichever chunk and bucket they were added in, and too many are reported as None."""

from __future__ import annotations

import numpy as np

from migrate.mapping.keyhashes import BUCKETS, KeyHashes


def test_shared_hashes_are_found_across_chunks_and_buckets():
    rng = np.random.default_rng(7)
    hashes = rng.integers(0, 2**64 - 1, size=50_000, dtype=np.uint64)
    repeated = rng.choice(len(hashes), size=40, replace=False)
    hashes[repeated[20:]] = hashes[repeated[:20]]  # 20 pairs, most split over two chunks
    ids = np.arange(1, len(hashes) + 1, dtype=np.int64)
    remembered = KeyHashes()
    try:
        for start in range(0, len(ids), 7_000):
            remembered.add(ids[start : start + 7_000], hashes[start : start + 7_000])
        assert len({int(h >> np.uint64(60)) for h in hashes}) == BUCKETS  # every bucket used
        assert sorted(remembered.shared(limit=1_000)) == sorted(ids[repeated])
        assert remembered.shared(limit=39) is None
    finally:
        remembered.close()


def test_no_shared_hash_gives_no_candidate():
    remembered = KeyHashes()
    try:
        remembered.add(np.array([1, 2, 3]), np.array([1, 2**63, 5], dtype=np.uint64))
        assert len(remembered.shared(limit=10)) == 0
    finally:
        remembered.close()
