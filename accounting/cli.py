"""`m2msim rate` and `m2msim compare`: files in, invoice or comparison out.

Exit status: 0 when the output was produced; 1 with `--strict` when the invoice has inventory
errors or rejected rows; 2 when an input cannot be used at all (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accounting.catalog import load_catalog
from accounting.compare import compare
from accounting.engine import rate_run
from accounting.errors import AccountingError
from accounting.inventory import load_inventory


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("rate", help="bill a month of usage records with the tariff catalog")
    _common(p)
    p.add_argument("--out", type=Path, help="write the invoice to this file instead of stdout")
    p.add_argument(
        "--strict", action="store_true", help="exit 1 when there are inventory errors or rejected rows"
    )
    p.add_argument("--all-lines", action="store_true", help="show every line's items in the readable invoice")
    p.set_defaults(handler=cmd_rate)
    c = subparsers.add_parser("compare", help="what the month would cost on every offer, plan and commitment")
    _common(c)
    c.add_argument("--out", type=Path, help="write the comparison to this file instead of stdout")
    c.set_defaults(handler=cmd_compare)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("inventory", type=Path, help="inventory YAML (customer, month, lines, services)")
    p.add_argument("usage", type=Path, help="usage records, .csv or .parquet")
    p.add_argument("--json", action="store_true", help="JSON on stdout (or in --out)")
    p.add_argument("--catalog", default=None, help="catalog file or bundled name (default orange-m2m-2012)")
    p.add_argument("--top", type=int, default=10, help="how many costliest lines the readable output shows")


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")


def cmd_rate(args: argparse.Namespace) -> int:
    try:
        catalog = load_catalog(args.catalog)
        inventory = load_inventory(args.inventory)
        run = rate_run(inventory, args.usage, catalog)
        invoice = run.invoice
        text = (
            invoice.to_json() + "\n"
            if args.json
            else invoice.render_text(top=args.top, all_lines=args.all_lines)
        )
        _emit(text, args.out)
    except AccountingError as exc:
        print(f"m2msim rate: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"m2msim rate: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 1 if args.strict and invoice.has_problems else 0


def cmd_compare(args: argparse.Namespace) -> int:
    try:
        catalog = load_catalog(args.catalog)
        inventory = load_inventory(args.inventory)
        comparison = compare(rate_run(inventory, args.usage, catalog))
        text = comparison.to_json() + "\n" if args.json else comparison.render_text(top=args.top)
        _emit(text, args.out)
    except AccountingError as exc:
        print(f"m2msim compare: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"m2msim compare: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
