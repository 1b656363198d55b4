"""The lead's board, `migrate report`: one self-contained page, opened from disk in the machine's
headless Chromium (Debian's package) at a desktop and a phone size; what it shows is checked
against `migrate phase status --json`."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from migrate.report import render
from tests.board.conftest import cli, cli_json
from tests.conftest import IN_CI

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SIZES = ((1280, 800), (390, 844))


def _chromium() -> str:
    if CHROMIUM:
        return CHROMIUM
    if IN_CI:
        pytest.fail(
            "the board's browser test is mandatory in CI, but no chromium is installed (.ci/run installs it)"
        )
    pytest.skip("no chromium on this machine (apt-get install chromium)")


def _read_page(page) -> dict:
    """Phase states, gate values and reject counts as the page shows them."""
    return page.evaluate(
        """() => ({
        states: [...document.querySelectorAll('article.phase')].map(a => [a.dataset.phase, a.dataset.state]),
        gates: [...document.querySelectorAll('article.phase tr.gate')].map(t => [
            t.closest('article').dataset.phase, t.dataset.gate, t.querySelector('.measured').textContent.trim(),
            t.querySelector('.threshold').textContent.trim(), t.dataset.met]),
        rejects: [...document.querySelectorAll('#reject-table tr[data-entity]')].map(t => [t.dataset.entity,
            t.querySelector('.total').dataset.rejected,
            Object.fromEntries([...t.querySelectorAll('td[data-reason]')].filter(c => c.textContent.trim())
                .map(c => [c.dataset.reason, Number(c.textContent)]))]),
        width: document.documentElement.scrollWidth,
        svgs: document.querySelectorAll('svg.pygal-chart').length,
    })"""
    )


def _expected(status: dict) -> dict:
    met = {True: "true", False: "false", None: "none"}
    return {
        "states": [[p["phase"], p["state"]] for p in status["phases"]],
        "gates": [
            [p["phase"], g["gate"], g["measured"], g["threshold"], met[g["met"]]]
            for p in status["phases"]
            for g in p["gate_values"]
        ],
        "rejects": [[r["entity"], str(r["rejected"]), r["by_reason"]] for r in status["rejects"]],
    }


def test_the_board_in_chromium_matches_phase_status(rehearsed, tmp_path):
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    out = tmp_path / "status.html"
    written = cli(rehearsed.root, "report", "--out", str(out))
    assert written.exit_code == 0, written.output
    status = cli_json(rehearsed.root, "phase", "status")
    expected = _expected(status)
    assert [s for _, s in expected["states"]] == ["approved"] * 4  # the demo approved every phase
    html = out.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img|iframe)\b|\b(src|href)\s*=|url\(|@import", html)
    artifacts = Path(os.environ.get("MIGRATE_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            for width, height in SIZES:
                page = browser.new_page(viewport={"width": width, "height": height})
                problems: list[str] = []
                page.on("console", lambda m, bad=problems: bad.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e, bad=problems: bad.append(str(e)))
                page.on("requestfailed", lambda r, bad=problems: bad.append(f"request failed: {r.url}"))
                page.on(
                    "request",
                    lambda r, bad=problems: None if r.url.startswith("file:") else bad.append(r.url),
                )
                page.goto(out.as_uri())
                seen = _read_page(page)
                page.screenshot(path=str(artifacts / f"board-{width}x{height}.png"), full_page=True)
                assert problems == []
                assert {k: seen[k] for k in expected} == expected
                assert seen["width"] <= width, "the page scrolls sideways"
                assert seen["svgs"] == 3
                page.close()
        finally:
            browser.close()


def test_legacy_text_is_escaped_never_markup():
    hostile = '<img src=x onerror="alert(1)">批号'
    status = {
        "project": hostile, "target": "sqlite://", "generated_at": "2026-12-06T00:00:00+00:00", "phases": [],
        "rejects": [{"entity": "material", "phase": "p", "source_rows": 3, "rejected": 1,
                     "by_reason": {"unknown_value": 1}, "trend": [],
                     "by_column": [{"reason": "unknown_value", "column": "uom", "legacy": hostile, "rows": 1}]}],
        "reconcile": {"measured": False, "note": hostile}, "readiness": {"ready": None}, "eta": {},
        "audit": {}, "rehearsals": [], "notes": [hostile],
    }  # fmt: skip
    page = render(status)
    assert (
        "<img" not in page and page.count("&lt;img src=x onerror=&#34;alert(1)&#34;&gt;批号") == 5
    )  # title, heading, column, two notes
