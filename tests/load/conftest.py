"""Fixtures for load tests: a work store with mapped rows, an upgraded target, fast copies of it."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import text

from migrate import db
from migrate.db import make_engine
from migrate.load.hashing import content_hash
from migrate.model import MODEL_TABLES
from tests.load.mapped import make_store


@pytest.fixture
def store(tmp_path) -> str:
    return make_store(tmp_path / "store.db", 2_000)


@pytest.fixture
def target(target_url) -> str:
    engine = db.make_engine(target_url)
    db.upgrade(engine)
    engine.dispose()
    return target_url


def hashes(url: str) -> dict[str, str]:
    engine = make_engine(url)
    try:
        return {t.name: content_hash(engine, t) for t in MODEL_TABLES}
    finally:
        engine.dispose()


def scalar(url: str, sql: str, **params):
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return c.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


@dataclass
class Targets:
    """Fresh, upgraded, empty targets made fast: a copied SQLite file or a PostgreSQL template."""

    template: str
    tmp: Path
    created: list[str] = field(default_factory=list)

    def fresh(self) -> str:
        if self.template.startswith("sqlite"):
            path = self.tmp / f"t_{uuid.uuid4().hex[:8]}.db"
            shutil.copy(self.template.removeprefix("sqlite:///"), path)
            return f"sqlite:///{path}"
        base, _, name = self.template.rpartition("/")
        new = f"t_{uuid.uuid4().hex[:12]}"
        admin = make_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{new}" TEMPLATE "{name}"'))
        admin.dispose()
        self.created.append(f"{base}/{new}")
        return f"{base}/{new}"

    def drop_all(self) -> None:
        for url in self.created:
            base, _, name = url.rpartition("/")
            admin = make_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


@pytest.fixture
def targets(target, tmp_path) -> Targets:
    # a template database must have no open connections while it is copied
    made = Targets(target, tmp_path)
    yield made
    made.drop_all()
