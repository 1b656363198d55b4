"""Fingerprints: what tells a later stage (and `sources check`) that a source changed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from migrate.project import SourceSpec


def file_fingerprint(path: Path) -> str:
    """SHA-256 of the file's bytes, read in 1 MB blocks."""
    hasher = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            hasher.update(block)
    return f"sha256:{hasher.hexdigest()}"


def spec_hash(spec: SourceSpec) -> str:
    """The declaration's own hash: a changed layout option re-extracts an unchanged file."""
    # the password is left out: an unsalted hash of it would sit in the catalogue
    data = json.dumps(spec.model_dump(mode="json", exclude={"password"}), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()[:16]
