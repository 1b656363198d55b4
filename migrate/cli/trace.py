"""`migrate trace`: where a lot came from, or where it went."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.tree import Tree

from migrate import trace as tracing
from migrate.cli.context import app_context, emit_json, reported_errors
from migrate.db import make_engine, require_schema
from migrate.errors import MigrateError


def trace(
    ctx: typer.Context,
    lot_no: str = typer.Argument(..., help="The lot number to trace."),
    forward: bool = typer.Option(False, "--forward", help="Where the lot went: child lots and shipments."),
    backward: bool = typer.Option(
        False, "--backward", help="Where it came from: parent lots and suppliers (default)."
    ),
) -> None:
    """Trace a lot through the genealogy in the target, back to suppliers or forward to customers."""
    app = app_context(ctx)
    with reported_errors(ctx):
        if forward and backward:
            raise MigrateError("give --forward or --backward, not both.")
        engine = make_engine(app.project.target_url)
        require_schema(engine)
        result = tracing.trace(engine, lot_no, "forward" if forward else "backward")
    if app.json:
        emit_json(app, {"ok": True, **result.to_dict()})
        return
    if not app.quiet:
        app.console.print(_tree(result))


def _label(lot_no: str, result: tracing.TraceResult) -> str:
    """Lot, material, quantity and supplier; legacy values escaped (a lot 'L[b]2' is not markup)."""
    lot = result.lots.get(lot_no, {})
    supplier = ""
    if lot.get("supplier_code"):
        their_lot = f" ({lot['supplier_lot_no']})" if lot.get("supplier_lot_no") else ""
        supplier = f" from {lot['supplier_code']}{their_lot}"
    rest = f" {lot.get('material_code', '')} {lot.get('quantity', '')} {lot.get('uom', '')}{supplier}"
    return f"[bold]{escape(lot_no)}[/]{escape(rest)}"


def _tree(result: tracing.TraceResult) -> Tree:
    root = Tree(f"{result.direction} trace of " + _label(result.lot_no, result))
    nodes = {result.lot_no: root}
    for link in result.links:
        parent = nodes.get(link.from_lot, root)
        via = escape(f"  via {link.work_order_no}")
        nodes.setdefault(link.to_lot, parent.add(f"{_label(link.to_lot, result)}{via}"))
    for s in result.shipments:
        nodes.get(s["lot_no"], root).add(
            escape(
                f"shipped {s['quantity']} {s['uom']} to {s['customer_code']} ({s['shipment_no']}/{s['line_no']})"
            )
        )
    if not result.links and not result.shipments:
        went = "no child lots or shipments" if result.direction == "forward" else "no parent lots"
        root.add(f"[dim]{went} in the target[/]")
    return root
