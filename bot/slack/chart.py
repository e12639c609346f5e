"""The digest's chart: the last 30 days' spend per day against the budget pace, as a PNG (matplotlib, Agg)."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display; must precede any pyplot import anywhere in the process

from matplotlib.figure import Figure  # noqa: E402

from bot.domain.digest_figures import DigestFigures  # noqa: E402
from bot.domain.pricing import MICROS_PER_USD  # noqa: E402


def daily_chart_png(f: DigestFigures) -> bytes:
    """Pure: figures in, PNG bytes out. Uses the object API (no pyplot state), so it is safe in worker threads."""
    days = [d for d, _c in f.daily]
    values = [c / MICROS_PER_USD for _d, c in f.daily]
    fig = Figure(figsize=(8, 3), dpi=80)
    ax = fig.add_subplot()
    pace = f.daily_budget_micros / MICROS_PER_USD if f.daily_budget_micros is not None else None
    colors = ["#e63946" if pace is not None and v > pace else "#457b9d" for v in values]
    ax.bar(range(len(values)), values, color=colors, width=0.8)
    if pace is not None:
        ax.axhline(pace, color="#1d3557", linestyle="--", linewidth=1.2, label=f"budget pace ${pace:,.0f}/day")
        ax.legend(loc="upper left", frameon=False, fontsize=8)
    step = max(1, len(days) // 6)
    ax.set_xticks(range(0, len(days), step), [f"{d:%b %-d}" for d in days[::step]], fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.yaxis.set_major_formatter(lambda v, _pos: f"${v:,.0f}")
    ax.set_title(f"{f.team_name}: spend per day, last {len(values)} days", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    fig.subplots_adjust(left=0.09, right=0.99, top=0.88, bottom=0.12)  # fixed: tight_layout doubles the cost
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
