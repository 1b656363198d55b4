"""`migrate evidence verify DIR|FILE.zip`: the pack re-checked offline, without the target.

Every file against the manifest's SHA-256 (and the manifest against its own seal), every
signature with `ssh-keygen -Y verify` against the pack's allowed signers and evidence record,
and the audit log inside the pack link by link. Every sign entry of the phase in that log
must have its signature in the pack, and every signature's statement must find the log
where it says it stood: removing either is seen.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from types import SimpleNamespace

from migrate import audit
from migrate.errors import ConfigError, MigrateError
from migrate.evidence.pack import MANIFEST, seal
from migrate.evidence.record import file_sha256, sha256

MAX_UNZIPPED = 2 << 30  # an evidence pack is reports and logs: refuse a zip inflating past 2 GiB


@dataclass(frozen=True)
class PackCheck:
    path: Path
    problems: tuple[str, ...]
    files: int = 0
    signatures: int = 0
    entries: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "path": str(self.path),
            "problems": list(self.problems),
            "files": self.files,
            "signatures": self.signatures,
            "audit_entries": self.entries,
        }


def _manifest(folder: Path) -> tuple[dict | None, list[str]]:
    try:
        data = (folder / MANIFEST).read_bytes()
        manifest = json.loads(data.decode("utf-8"))
    except FileNotFoundError:
        return None, [f"{MANIFEST} is missing"]
    except (UnicodeDecodeError, ValueError):
        return None, [f"{MANIFEST} differs: it is no longer valid JSON"]
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return None, [f"{MANIFEST} differs: it lists no files"]
    return manifest, ([] if seal(manifest) == data else [f"{MANIFEST} differs from what was sealed"])


def _files(folder: Path, listed: dict) -> list[str]:
    problems = []
    for name, digest in sorted(listed.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif file_sha256(path) != digest:
            problems.append(f"{name} differs (its SHA-256 is not the manifest's)")
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    problems += [f"{name} is not in the manifest" for name in sorted(present - set(listed) - {MANIFEST})]
    return problems


def _entries(folder: Path) -> tuple[list, str | None]:
    try:
        lines = (folder / "audit" / "entries.jsonl").read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
        head = json.loads((folder / "audit" / "head.json").read_text(encoding="utf-8"))
        for r in rows:
            r["at"] = datetime.fromisoformat(r["at"])
        result = audit.verify_rows([SimpleNamespace(**r) for r in rows], (head["seq"], head["hash"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return [], f"audit/entries.jsonl or audit/head.json cannot be read ({type(exc).__name__})"
    if not result.ok:
        where = f" at entry {result.first_bad_seq}" if result.first_bad_seq else ""
        return rows, f"the audit log in the pack is not intact{where}: {result.problem}"
    return rows, None


def _sign_details(rows: list) -> list[dict]:
    """The details of each sign entry; an entry whose details no longer parse is skipped,
    since the chain check has already named the log as not intact."""
    out = []
    for r in rows:
        if r.get("command") != "sign":
            continue
        try:
            details = json.loads(r.get("details") or "")
        except (TypeError, ValueError):
            continue
        if isinstance(details, dict):
            out.append(details)
    return out


def _signatures(folder: Path, manifest: dict, rows: list) -> list[str]:
    from migrate.people import People, PeopleSpec
    from migrate.signing import Statement, check

    listed = manifest.get("signatures") or []
    logged = [d for d in _sign_details(rows) if d.get("evidence_sha256") == manifest.get("evidence_sha256")]
    held = {s.get("id") for s in listed}
    problems = [
        f"signature {d.get('signature_id')} ({d.get('signer')}, {d.get('role')} {d.get('meaning')}) is in the "
        "pack's audit log but missing from the pack"
        for d in logged
        if d.get("signature_id") not in held
    ]
    ids = {d.get("signature_id") for d in logged}
    problems += [
        f"{s.get('statement')} has no sign entry in the pack's audit log"
        for s in listed
        if s.get("id") not in ids
    ]
    if not listed:
        return problems
    try:
        allowed = (folder / "signatures" / "allowed_signers").read_text()
        people = People(
            PeopleSpec.model_validate(json.loads((folder / "signatures" / "people.json").read_text()))
        )
        evidence = sha256((folder / "evidence.json").read_bytes())
    except (OSError, ValueError) as exc:
        return [*problems, f"the pack's signers or evidence cannot be read ({type(exc).__name__})"]
    hashes = {r.get("seq"): r.get("hash") for r in rows}
    for s in listed:
        name = s.get("statement", "?")
        try:
            stmt = Statement.parse((folder / name).read_bytes(), name)
            armored = (folder / s["signature"]).read_text()
        except (OSError, KeyError, MigrateError) as exc:
            problems.append(f"{name}: {getattr(exc, 'message', None) or 'cannot be read'}")
            continue
        problem = check(people, allowed, stmt, armored, evidence)
        stood = stmt.fields.get("audit") or {}
        if problem is None and stood.get("seq") and hashes.get(stood["seq"]) != stood.get("head"):
            problem = f"it records audit entry {stood['seq']}, which the pack's log does not hold as signed"
        if problem:
            problems.append(f"{name}: {problem}")
    return problems


def _unzipped(path: Path, into: Path) -> Path:
    """A zipped pack extracted with its names and sizes checked first."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            for info in infos:
                parts = PurePosixPath(info.filename).parts
                if info.filename.startswith("/") or ".." in parts:
                    raise ConfigError(
                        f"{path}: the zip entry {info.filename[:80]!r} points outside the pack."
                    )
            if sum(i.file_size for i in infos) > MAX_UNZIPPED:
                raise ConfigError(f"{path}: the zip inflates past 2 GiB; not an evidence pack.")
            z.extractall(into)
    except zipfile.BadZipFile:
        raise ConfigError(f"{path} is not a zip file.") from None
    return into


def verify_pack(path: Path) -> PackCheck:
    """Check a pack folder or zip offline; every problem found, each naming the file."""
    if not path.exists():
        raise ConfigError(f"{path} does not exist.")
    if path.is_file():
        with tempfile.TemporaryDirectory(prefix="migrate-evidence-check-") as tmp:
            return verify_pack_folder(_unzipped(path, Path(tmp)), shown=path)
    return verify_pack_folder(path, shown=path)


def verify_pack_folder(folder: Path, *, shown: Path) -> PackCheck:
    manifest, problems = _manifest(folder)
    if manifest is None:
        return PackCheck(shown, tuple(problems))
    problems += _files(folder, manifest["files"])
    rows, broken = _entries(folder)
    problems += [broken] if broken else []
    audit_head = manifest.get("audit") or {}
    if (
        rows
        and not broken
        and (rows[-1]["seq"], rows[-1]["hash"]) != (audit_head.get("seq"), audit_head.get("head"))
    ):
        problems.append(f"{MANIFEST} names audit head {audit_head.get('seq')}, not the pack log's last entry")
    problems += _signatures(folder, manifest, rows)
    listed = len(manifest.get("signatures") or [])
    return PackCheck(shown, tuple(problems), len(manifest["files"]) + 1, listed, len(rows))
