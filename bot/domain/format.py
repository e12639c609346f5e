"""How figures and people's words look in every message: money, token counts, progress bars, escaping. One home, so
`/tokens me`, App Home, digests and warnings never disagree (same bar width, same rounding)."""
from __future__ import annotations

from bot.domain.pricing import MICROS_PER_USD

BAR_WIDTH = 20  # cells: every bar in every message


def escape(text: str) -> str:
    """Slack mrkdwn escaping: text someone typed can never become a mention (`<!channel>`), a link or markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def usd(micros: float, cents: bool = True) -> str:
    value = micros / MICROS_PER_USD
    digits = 2 if cents or abs(value) < 100 else 0
    rounded = round(value, digits)
    if rounded == 0:  # -0.001 is "$0.00", never "$-0.00" (a spike warning's "usual $-0.00")
        rounded = 0.0
    return f"${rounded:,.{digits}f}"


def bar(fraction: float) -> str:
    """A text progress bar that renders the same on every Slack client."""
    filled = max(0, min(BAR_WIDTH, round(fraction * BAR_WIDTH)))
    return "█" * filled + "░" * (BAR_WIDTH - filled)


def tokens(n: int) -> str:
    """Three significant digits: 1,954,974 is 1.95M (never "2M" beside "2.7M"); 999 stays 999; 999,999 is 1M."""
    units = (("", 1), ("k", 10**3), ("M", 10**6), ("B", 10**9))
    index = max(i for i, (_, size) in enumerate(units) if i == 0 or n >= size)
    while True:
        unit, size = units[index]
        value = n / size
        digits = 0 if index == 0 or value >= 100 else 1 if value >= 10 else 2
        text = f"{value:.{digits}f}"
        if float(text) >= 1000 and index + 1 < len(units):
            index += 1  # 999,999 rounds to "1000k": say 1M
            continue
        if digits:
            text = text.rstrip("0").rstrip(".")
        return text + unit
