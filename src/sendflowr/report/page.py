"""The fidelity report as one self-contained HTML page (inline CSS, inline PNG plots)."""

from __future__ import annotations

import base64
import html
from datetime import datetime
from pathlib import Path

import pandas as pd

from sendflowr.report.checks import Section

__all__ = ["render_page"]

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: .2rem; } .sub { color: #666; margin-top: 0; }
section { border-top: 1px solid #ddd; padding: 1rem 0; }
img.plot { max-width: 100%; display: block; margin: .6rem 0; }
table { border-collapse: collapse; margin: .5rem 0; font-size: 13px; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
.pass { color: #1e7b34; font-weight: 600; } .fail { color: #b52121; font-weight: 600; }
.info { color: #777; font-weight: 600; }
.summary span { margin-right: 1rem; }
"""

# Marks the page once every plot decoded, so a headless browser test can tell it rendered.
_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.querySelectorAll('img.plot'));
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-plots', imgs.length);
  document.body.setAttribute('data-plots-rendered', ok);
});
"""


def _table(frame: pd.DataFrame | None) -> str:
    if frame is None or frame.empty:
        return ""
    return frame.to_html(index=not isinstance(frame.index, pd.RangeIndex), border=0, na_rep="–")


def _section(section: Section) -> str:
    parts = [f'<section id="{section.key}"><h2>{html.escape(section.title)}</h2>']
    parts.append(f"<p>{html.escape(section.description)}</p>")
    if section.figure:
        data = base64.b64encode(section.figure).decode()
        alt = html.escape(section.title)
        parts.append(f'<img class="plot" alt="{alt}" src="data:image/png;base64,{data}">')
    if section.expectations:
        rows = "".join(
            f"<tr><td>{html.escape(e.name)}</td><td>{html.escape(e.measured)}</td>"
            f"<td>{html.escape(e.target)}</td><td class='{e.status}'>{e.status}</td></tr>"
            for e in section.expectations
        )
        parts.append(
            "<table class='checks'><tr><th>expectation</th><th>measured</th><th>target</th>"
            f"<th>result</th></tr>{rows}</table>"
        )
    parts.append(_table(section.table))
    parts.append("</section>")
    return "\n".join(parts)


def render_page(sections: list[Section], *, database: str, created: datetime, out: Path) -> Path:
    """Write ``report.html`` into ``out`` and return its path."""
    statuses = [e.status for s in sections for e in s.expectations]
    summary = " ".join(
        f"<span class='{k}'>{statuses.count(k)} {k}</span>" for k in ("pass", "fail", "info")
    )
    body = "\n".join(_section(s) for s in sections)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>SendFlowr fidelity report</title>
<style>{_CSS}</style></head>
<body>
<h1>SendFlowr fidelity report</h1>
<p class="sub">Database <code>{html.escape(database)}</code>, made {created:%Y-%m-%d %H:%M} UTC.
Does the stored data show every behaviour of the generator's model (docs/behaviour-model.md)?</p>
<p class="summary">{summary}</p>
{body}
<script>{_SCRIPT}</script>
</body></html>
"""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
