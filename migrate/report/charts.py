"""The board's charts: inline SVG made by pygal, with no script and no external asset.

Why pygal: it writes SVG natively (the page stays one self-contained file that a file share
serves as is), is pure Python with no browser-side runtime (plotly and Vega need JavaScript
bundles), and is light to import (matplotlib is tens of MB for three bar charts). Its
tooltip script is loaded from the web by default: `js=[]` turns that off, and the inline
config script it still writes is removed, so the page runs no script and makes no request.
"""

from __future__ import annotations

from typing import Any

import pygal
from pygal.style import Style

# CJK-capable fonts first: the project's Chinese column names and owners must render
FONTS = '"Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC", sans-serif'
STYLE = Style(
    background="transparent",
    plot_background="transparent",
    font_family=FONTS,
    label_font_family=FONTS,
    major_label_font_family=FONTS,
    legend_font_family=FONTS,
    title_font_family=FONTS,
    value_font_family=FONTS,
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=12,
    title_font_size=14,
    colors=("#2f6fb0", "#d9822b", "#3a9a5b", "#b33a3a", "#7a5cb0", "#8c6d31", "#c2478f", "#5f6b73"),
)
COMMON: dict[str, Any] = {
    "js": [],  # no tooltip script from the web: the page makes no request
    "disable_xml_declaration": True,
    "style": STYLE,
    "legend_at_bottom": True,
    "legend_at_bottom_columns": 3,
    "truncate_legend": 40,
    "truncate_label": 30,
    "print_values": False,
    "margin": 8,
    "margin_bottom": 28,  # pygal's legend rows at the bottom otherwise lose their last line
}


def _svg(chart) -> str:
    """The chart's SVG without pygal's inline config script (the page has no script at all)."""
    from xml.etree import ElementTree

    tree = chart.render_tree()
    for parent in tree.iter():
        for child in [c for c in parent if c.tag == "script"]:
            parent.remove(child)
    return ElementTree.tostring(tree, encoding="unicode")


def rejects_by_reason(rejects: list[dict]) -> str | None:
    """Per entity, rejected rows stacked by reason (entities with rejects only)."""
    rows = [r for r in rejects if r["rejected"]]
    if not rows:
        return None
    reasons = sorted({reason for r in rows for reason in r["by_reason"]})
    chart = pygal.HorizontalStackedBar(
        **COMMON, title="rejects by reason", width=760, height=120 + 32 * len(rows)
    )
    chart.x_labels = [r["entity"] for r in rows]
    for reason in reasons:
        chart.add(reason, [r["by_reason"].get(reason) or None for r in rows])
    return _svg(chart)


def reject_trend(rehearsals: list[dict], rejects: list[dict]) -> str | None:
    """Rejected rows per entity across the rehearsals, oldest first."""
    if len(rehearsals) < 2:
        return None
    names = [r["name"] for r in rehearsals]
    chart = pygal.Line(**COMMON, title="rejects across rehearsals", width=760, height=360, dots_size=3)
    chart.x_labels = names
    for r in rejects:
        by_name = {t["rehearsal"]: t["rejected"] for t in r["trend"]}
        if any(by_name.values()):
            chart.add(r["entity"], [by_name.get(n) for n in names])
    return _svg(chart)


def step_durations(eta: dict) -> str | None:
    """Expected seconds of each phase's automatic steps, stacked by step."""
    phases = [p for p in eta.get("phases", []) if p.get("steps")]
    if not phases:
        return None
    steps = list(dict.fromkeys(s for p in phases for s in p["steps"]))
    chart = pygal.StackedBar(
        **COMMON,
        title=f"expected seconds per step (from rehearsal {eta.get('rehearsal')})",
        width=760,
        height=360,
    )
    chart.x_labels = [p["phase"] for p in phases]
    for step in steps:
        chart.add(step, [round(p["steps"].get(step, 0.0), 2) for p in phases])
    return _svg(chart)
