"""`tokenbot export focus --month YYYY-MM [--out FILE]`: the month's spend per team, person and model as a FOCUS
CSV, with a summary that checks the file's total against the ledger."""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from bot.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001 - argparse's own type
    export = sub.add_parser("export", help="exports for finance tools").add_subparsers()
    p = export.add_parser("focus", help="a month's spend per team, person and model in FOCUS 1.2 columns (CSV)")
    p.add_argument("--month", required=True, help="YYYY-MM (UTC calendar month)")
    p.add_argument("--out", help="file to write (default: standard output)")
    p.set_defaults(func=cmd_export_focus)


async def cmd_export_focus(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import opened_deps
    from bot.domain.focus import COLUMNS, FOCUS_VERSION
    from bot.domain.format import usd
    from bot.features.chargeback import focus_export, month_bounds

    try:
        month_bounds(args.month)
    except ValueError:
        print(f"--month {args.month!r}: expected a month like 2026-10", file=sys.stderr)
        return 2
    async with opened_deps(settings) as deps:
        export = await focus_export(deps, args.month)
    out = Path(args.out).open("w", newline="", encoding="utf-8") if args.out else sys.stdout
    try:
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(export.rows)
    finally:
        if args.out:
            out.close()
    agree = "equal to" if export.total_micros == export.ledger_micros else "DIFFERENT FROM"
    print(f"FOCUS {FOCUS_VERSION}: {len(export.rows):,} rows for {args.month}"
          f"{' to ' + args.out if args.out else ''}; billed {usd(export.total_micros)}, {agree} the ledger's "
          f"{usd(export.ledger_micros)}", file=sys.stderr)
    return 0 if export.total_micros == export.ledger_micros else 1
