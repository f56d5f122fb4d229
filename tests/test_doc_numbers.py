"""The README's "which method" section quotes only numbers that a committed generated table shows."""

import re

from tests.conftest import ROOT

TABLES = ("Online/COMPARISON.md", "Online/HEADROOM.md")
# a published number: a percentage, a ratio, a signed point difference with its interval, or a
# token count with a thousands separator (plain small integers such as "k = 2" are settings)
NUMBER = re.compile(
    r"[+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\]|\d+\.\d+×|\d+\.\d%|\d{1,3}(?:,\d{3})+"
)


def section(text: str, title: str) -> str:
    start = text.index(title)
    return text[start : text.index("\n## ", start + 1)]


def test_the_which_method_section_quotes_only_committed_numbers():
    tables = "\n".join((ROOT / t).read_text(encoding="utf-8") for t in TABLES)
    text = section(
        (ROOT / "README.md").read_text(encoding="utf-8"), "## Which method should I use?"
    )
    quoted = NUMBER.findall(text)
    assert len(quoted) > 25
    missing = [n for n in quoted if n not in tables]
    assert not missing, f"README numbers not in {TABLES}: {missing}"
