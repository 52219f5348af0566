"""Render the assessment into one self-contained HTML file per language, and PDF via Chromium.

Jinja2 with autoescape: every string from traffic, scans or repositories is
escaped; figures are embedded as data: URIs (SVG, inert inside <img>); the one
inline script (table sorting) is allowed by its hash in a Content-Security-
Policy, so the page works without JavaScript and runs nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import string
import subprocess
import tempfile
import textwrap
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from secaudit.errors import ToolError
from secaudit.i18n import t as translate
from secaudit.plotfonts import cjk, svg_bytes

__all__ = [
    "SORT_SCRIPT",
    "chromium",
    "css_string",
    "html_to_pdf",
    "page_label",
    "render_html",
    "screenshot",
    "stamp",
    "utc_minute",
    "svg_uri",
]

SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  var heads = table.tHead ? table.tHead.rows[0].cells : [];
  Array.prototype.forEach.call(heads, function (th, col) {
    th.classList.add('sortable');
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var dir = th.getAttribute('data-dir') === 'asc' ? -1 : 1;
      th.setAttribute('data-dir', dir === 1 ? 'asc' : 'desc');
      function key(row) {
        var cell = row.cells[col]; if (!cell) return '';
        var s = cell.getAttribute('data-sort'); if (s !== null) return parseFloat(s);
        var txt = cell.textContent.trim(), n = parseFloat(txt.replace(/,/g, ''));
        return (!isNaN(n) && /^[-\\d.,]+$/.test(txt)) ? n : txt.toLowerCase();
      }
      rows.sort(function (a, b) { var x = key(a), y = key(b); return (x > y ? 1 : x < y ? -1 : 0) * dir; });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("secaudit.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode()).digest()
    return "sha256-" + base64.b64encode(digest).decode()


def svg_uri(svg: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


def stamp(value: str | None) -> str:
    """An ISO 8601 time as a report shows it: a space for the 'T' (a line may break there
    in a narrow column) and whole seconds; the full value stays in the findings files."""
    if not value:
        return ""
    text = value.replace("T", " ", 1)
    head, dot, rest = text.partition(".")
    if dot and rest[:1].isdigit():
        zone = rest.lstrip("0123456789")
        return head + zone
    return text


def css_string(text: str) -> str:
    """`text` as a CSS string literal: every character outside plain ASCII letters, digits,
    space and a few marks as a CSS escape, so no value can end the string or the <style>."""
    safe = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:-_()/")
    return '"' + "".join(c if c in safe else f"\\{ord(c):x} " for c in text) + '"'


def page_label(lang: str) -> str:
    """CSS `content` for the page-number margin box, from the catalog's 'report.page'
    ("Page {page} of {pages}")."""
    parts: list[str] = []
    for text, name, _, _ in string.Formatter().parse(translate("report.page", lang)):
        if text:
            parts.append(css_string(text))
        if name is not None:
            parts.append("counter(pages)" if name == "pages" else "counter(page)")
    return " ".join(parts) or "counter(page)"


def utc_minute(value: datetime | None) -> str:
    """A run time (UTC; naive means UTC, as the history stores it) to the minute."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return f"{value:%Y-%m-%d %H:%M} UTC"


_ENV.filters["stamp"] = stamp
_ENV.filters["utc_minute"] = utc_minute


def render_html(context: Mapping[str, Any], lang: str) -> str:
    """The report page for `lang` (all text through the catalog, all values escaped)."""

    def t(key: str, **params: Any) -> str:
        return translate(key, lang, **params)

    head = f"{translate('report.title', lang)} · {context.get('org', '')}".strip(" ·")
    template = _ENV.get_template("report.html.j2")
    return template.render(
        **context,
        lang=lang,
        t=t,
        script=SORT_SCRIPT,
        script_hash=script_hash(SORT_SCRIPT),
        page_label=markupsafe.Markup(page_label(lang)),
        page_head=markupsafe.Markup(css_string(head)),
    )


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise ToolError("not installed (apt-get install chromium)", "chromium")


_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]


def _run_chromium(args: list[str], source: Path, timeout_s: int) -> None:
    with tempfile.TemporaryDirectory(prefix="secaudit-chromium-") as profile:
        cmd = [chromium(), *_FLAGS, f"--user-data-dir={profile}", *args, source.resolve().as_uri()]
        env = {**os.environ, "HOME": profile}
        try:
            proc = subprocess.run(
                cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, env=env
            )
        except subprocess.TimeoutExpired as exc:
            raise ToolError(
                f"timed out after {timeout_s} s", "chromium", source=str(source)
            ) from exc
        if proc.returncode != 0:
            tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise ToolError(f"exit {proc.returncode}: {tail[0]}", "chromium", source=str(source))


def html_to_pdf(html: Path, pdf: Path, timeout_s: int = 120) -> Path:
    """Print the HTML with headless Chromium (fonts are embedded by Chromium's PDF backend)."""
    pdf.unlink(missing_ok=True)
    _run_chromium(
        [f"--print-to-pdf={pdf.resolve()}", "--no-pdf-header-footer", "--print-to-pdf-no-header"],
        html,
        timeout_s,
    )
    if not pdf.exists() or pdf.stat().st_size == 0:
        raise ToolError("wrote no PDF", "chromium", source=str(html))
    return pdf


def screenshot(
    html: Path, png: Path, width: int = 1280, height: int = 2400, timeout_s: int = 120
) -> Path:
    """A PNG of the rendered page (tests keep it for inspection)."""
    png.unlink(missing_ok=True)
    _run_chromium(
        [f"--screenshot={png.resolve()}", f"--window-size={width},{height}"], html, timeout_s
    )
    if not png.exists():
        raise ToolError("wrote no screenshot", "chromium", source=str(html))
    return png


# ---------------------------------------------------------------- figures


def _figure() -> Any:
    """A figure of the report's size outside pyplot: no backend is chosen or switched (the
    caller may be a notebook kernel) and nothing is left open."""
    from matplotlib.figure import Figure

    return Figure(figsize=(5.2, 2.6))


@cjk
def bar_svg(
    labels: list[str], values: list[int], title: str, colors: list[str] | None = None
) -> bytes:
    """Horizontal bars of counts. Long labels (chapter titles) wrap onto two lines so the
    figure keeps the report's width and its text stays legible; counts get whole ticks."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure()
    ax = fig.subplots()
    shown = [textwrap.fill(x, 30, break_long_words=False) for x in labels]
    ax.barh(shown[::-1], values[::-1], color=(colors or ["#1f4e8c"] * len(values))[::-1])
    ax.set_title(title, fontsize=10)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    ax.tick_params(labelsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return svg_bytes(fig)


@cjk
def lines_svg(
    x: list[str], series: Mapping[str, list[int]], colors: Mapping[str, str], title: str
) -> bytes:
    from matplotlib.ticker import MaxNLocator

    fig = _figure()
    ax = fig.subplots()
    for name, ys in series.items():
        ax.plot(x, ys, marker="o", label=name, color=colors.get(name))
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, frameon=False, ncol=3)
    ax.tick_params(labelsize=8)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    return svg_bytes(fig)


def read_figure(path: Path) -> str | None:
    """A notebook's figure file as a data: URI (SVG or PNG); None if unreadable."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if path.suffix.lower() == ".svg":
        return svg_uri(data)
    if path.suffix.lower() == ".png":
        return "data:image/png;base64," + base64.b64encode(data).decode()
    return None


def compact_json(value: Any, limit: int = 600) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
