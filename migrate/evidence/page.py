"""index.html of an evidence pack: one self-contained page (inline style, no script, no
network), every value escaped, for a person reading the pack without tools."""

from __future__ import annotations

from html import escape
from pathlib import Path

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}.no{color:#b00;font-weight:bold}.yes{color:#070}code{font-size:12px}
"""


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value) -> str:
    if value is True:
        return '<span class="yes">yes</span>'
    if value is False:
        return '<span class="no">NO</span>'
    if isinstance(value, list):
        value = ", ".join(map(str, value))
    elif isinstance(value, dict):
        value = ", ".join(f"{k}: {v}" for k, v in value.items())
    return escape("" if value is None else str(value))


def _sections(manifest: dict, record: dict, gates: dict, point, rows: list) -> list[str]:
    signoff = gates["signatures"]
    return [
        "<h2>Gates</h2>",
        _table(
            ["gate", "measured", "threshold", "met", "detail"],
            [[g["gate"], g["measured"], g["threshold"], g["met"], g["detail"]] for g in gates["gates"]],
        ),
        "<h2>Signatures</h2>",
        _table(
            ["printed name", "person", "role", "meaning", "signed (UTC)", "evidence", "valid"],
            [
                [
                    s["printed_name"],
                    s["signer"],
                    s["role"],
                    s["meaning"],
                    s["signed_at"],
                    s["evidence_sha256"],
                    s["valid"],
                ]
                for s in signoff["present"]
            ],
        ),
        f"<p>Required: {escape(', '.join(signoff['required']) or 'none')}; "
        f"missing: {escape(', '.join(signoff['missing']) or 'none')}.</p>",
        "<h2>Row accounting</h2>",
        _table(
            ["entity", "source rows", "mapped", "rejected", "filtered"],
            [[e, *(c or {}).values()] for e, c in record["accounting"].items()],
        ),
        "<h2>Sources</h2>",
        _table(["source", "fingerprint"], [[s, f] for s, f in record["sources"].items()]),
        "<h2>Project files</h2>",
        _table(["file", "sha256"], [[f, h] for f, h in record["project_files"].items()]),
        "<h2>Tables</h2>",
        _table(
            ["table", "content hash now", "at the point"],
            [[t, h, (point.hashes.get(t) if point else None)] for t, h in record["tables"].items()],
        ),
        f"<h2>Audit log ({len(rows)} entries, head <code>{escape(manifest['audit']['head'])}</code>)</h2>",
        _table(
            ["seq", "at (UTC)", "operator", "command", "details"],
            [
                [r.seq, r.at.isoformat(timespec="seconds"), r.operator, r.command, r.details[:300]]
                for r in rows
            ],
        ),
    ]


def write_page(path: Path, manifest: dict, record: dict, gates: dict, point, rows: list) -> None:
    title = f"Evidence: {manifest['project']} / phase {manifest['phase']}"
    point_line = f"cutover point {manifest['point']}" if manifest["point"] else "no cutover point yet"
    parts = [
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>',
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>",
        f"<p>{escape(point_line)}; evidence <code>{escape(manifest['evidence_sha256'])}</code>; "
        f"made {escape(manifest['created_at'])} by migrate {escape(manifest['migrate'])}.</p>",
        "<p>Check this pack offline: <code>migrate evidence verify DIR</code>, or each signature with "
        "<code>ssh-keygen -Y verify -f signatures/allowed_signers -I PERSON -n migrate-evidence "
        "-s STATEMENT.sig &lt; STATEMENT</code>.</p>",
        *_sections(manifest, record, gates, point, rows),
        "</body></html>\n",
    ]
    path.write_text("".join(parts), encoding="utf-8")
