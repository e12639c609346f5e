from bot.domain.format import escape, usd


def test_usd_never_shows_negative_zero() -> None:
    assert usd(-1) == "$0.00" and usd(-4_000) == "$0.00" and usd(0) == "$0.00"
    assert usd(-10_000) == "$-0.01" and usd(1_234_567_890, cents=False) == "$1,235"


def test_escape_makes_mentions_and_links_inert() -> None:
    assert escape("<!channel> & <http://x|y>") == "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
