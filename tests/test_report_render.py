"""The report renderer's small helpers: times as shown, CSS strings for the page margins."""

from __future__ import annotations

import re

import pytest

from secaudit.report.render import css_string, page_label, stamp


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2026-11-20T09:08:00.237125Z", "2026-11-20 09:08:00Z"),
        ("2026-11-20T09:14:00Z", "2026-11-20 09:14:00Z"),
        ("2026-11-20T09:14:00.5+08:00", "2026-11-20 09:14:00+08:00"),
        ("2026-11-20", "2026-11-20"),
        (None, ""),
        ("", ""),
    ],
)
def test_stamp(value: str | None, shown: str) -> None:
    assert stamp(value) == shown


def _unescape(css: str) -> str:
    """What a CSS parser reads from the string literal `css` (hex escapes and one
    following space)."""
    assert css.startswith('"') and css.endswith('"')
    return re.sub(r"\\([0-9a-f]{1,6}) ?", lambda m: chr(int(m.group(1), 16)), css[1:-1])


@pytest.mark.parametrize(
    "text",
    [
        "Network security assessment report · Example Centre",
        '</style><script>alert("x")</script>',
        "a\\b\"c'd\ne",
        "网络安全测评报告 · 示例省政务服务中心",
    ],
)
def test_css_string_round_trips_and_cannot_break_out(text: str) -> None:
    css = css_string(text)
    inner = css[1:-1]
    # nothing that could end the string, the declaration or the <style> element
    assert not set(inner) & set("\"'<>{};\n")
    assert _unescape(css) == text


def test_page_label_from_the_catalog() -> None:
    assert page_label("en") == '"Page " counter(page) " of " counter(pages)'
    zh = page_label("zh")
    assert zh.count("counter(page)") == 1 and zh.count("counter(pages)") == 1
    assert _unescape(zh.split(" counter")[0]) == "第 "


def _texts(svg: bytes) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg.decode())


def test_bar_chart_wraps_long_labels_and_counts_in_whole_ticks() -> None:
    from secaudit.report.render import bar_svg

    long = "Unauthorized external and internal links (违规外联 / 违规内联)"
    texts = _texts(bar_svg([long, "Network attacks"], [1, 2], "Findings by chapter"))
    assert long not in texts and "Unauthorized external and" in texts
    ticks = [x for x in texts if re.fullmatch(r"[\d.]+", x)]
    assert ticks and all("." not in x for x in ticks), ticks  # not 0.25, 0.50, ...


def test_trend_chart_counts_in_whole_ticks() -> None:
    from secaudit.report.render import lines_svg

    texts = _texts(lines_svg(["#1", "#2"], {"high": [1, 2]}, {"high": "#c0392b"}, "Trend"))
    ticks = [x for x in texts if re.fullmatch(r"[\d.]+", x)]
    assert ticks and all("." not in x for x in ticks), ticks
