"""The report's self-contained HTML pages, and :func:`write_report`, which writes a PNG and its page
atomically (the only file I/O of the report)."""

from __future__ import annotations

import base64
import datetime as dt
import html
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gaitdir import __version__
from gaitdir.report._trace import FORWARD_SOURCES, RecordingTrace, clock_text

if TYPE_CHECKING:
    from gaitdir.history import DayTotal, SessionRecord

# The page lists every step up to this many.
_MAX_STEP_ROWS = 5000


_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 2em auto;
       max-width: 1340px; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
.counts { font-size: 1.35em; margin: 0.3em 0 0.8em; }
.counts b { font-size: 1.3em; }
.forward { color: #0072B2; } .backward { color: #D55E00; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { text-align: left; padding: 0.15em 1.2em 0.15em 0; vertical-align: top; }
td.n, th.n { text-align: right; }
th { color: #555; font-weight: 600; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, footer { color: #666; font-size: 0.9em; }
details { margin: 1em 0; }
"""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="gaitdir {html.escape(__version__)}">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n{body}\n"
        f"<footer>Made by gaitdir {html.escape(__version__)} on "
        f"{html.escape(dt.datetime.now().astimezone().isoformat(timespec='seconds'))}.</footer>\n"
        "</body>\n</html>\n"
    )


def _img(png: bytes, alt: str) -> str:
    # A PNG starts with its signature and the IHDR chunk: width and height are bytes 16-24.
    width, height = struct.unpack(">II", png[16:24])
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<img id="figure" src="data:image/png;base64,{data}" width="{width}" height="{height}" '
        f'alt="{html.escape(alt)}">'
    )


def _rows(rows: Sequence[tuple[str, str]]) -> str:
    return "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)


def recording_html(trace: RecordingTrace, png: bytes) -> str:
    """A self-contained page: the counts, where the front came from, the figure and every step."""
    counts = trace.counts()
    steps = trace.steps
    e = html.escape
    reference = trace.forward_reference
    front = "not found (no steps)"
    if reference is not None:
        source = str(reference["source"])
        front = f"{source}: {FORWARD_SOURCES.get(source, source)}"
    axis = "—"
    if reference is not None and reference.get("axis") is not None:
        axis = ", ".join(f"{a:+.3f}" for a in reference["axis"])
    elif trace.front_axis_sensor is not None:
        axis = ", ".join(f"{a:+.3f}" for a in trace.front_axis_sensor) + " (found from the first steps)"
    facts = [
        ("file", trace.source or trace.name),
        ("format", trace.meta.get("format", "—")),
        ("sensor", trace.meta.get("sensor", "—")),
        ("placement", trace.placement),
        ("duration", clock_text(trace.duration_s)),
        ("front came from", front),
        ("front, sensor axis", axis),
    ]
    if trace.meta.get("subject"):
        facts.append(("subject", trace.meta["subject"]))
    alt = (
        f"{trace.name}: {counts['steps']} steps, {counts['forward']} forward, {counts['backward']} backward; "
        "acceleration along the body axes with each step shaded by direction, running counts and cadence"
    )
    body = [
        f"<h1>{e(trace.name)}</h1>",
        f'<p class="counts" id="counts"><b>{counts["steps"]}</b> steps: '
        f'<span class="forward"><b id="forward">{counts["forward"]}</b> forward</span>, '
        f'<span class="backward"><b id="backward">{counts["backward"]}</b> backward</span></p>',
        f"<table>{_rows(facts)}</table>",
        f"<figure>{_img(png, alt)}<figcaption>Top three panels: the acceleration the step detector works "
        "on, along the wearer's body axes (vertical; anterior-posterior; medio-lateral), gravity removed. "
        f'Each step is shaded from its initial contact to the next, <span class="forward">blue</span> '
        f'forward and <span class="backward">orange</span> backward; triangles mark the contacts. '
        "Then the running count of each direction, and the cadence over the last 10 s.</figcaption></figure>",
    ]
    if len(steps):
        shown = min(len(steps), _MAX_STEP_ROWS)
        rows = "\n".join(
            f'<tr><td class="n">{i + 1}</td><td class="n">{ts:.3f}</td><td class="n">{d:.3f}</td>'
            f'<td class="{direction}">{direction}</td><td class="n">{c:.2f}</td></tr>'
            for i, (ts, d, direction, c) in enumerate(
                zip(
                    steps.time_s[:shown].tolist(),
                    steps.duration_s[:shown].tolist(),
                    steps.direction[:shown].tolist(),
                    steps.confidence[:shown].tolist(),
                    strict=True,
                )
            )
        )
        more = "" if shown == len(steps) else f" (the first {shown}; `gaitdir classify` writes them all)"
        body.append(
            f"<details><summary>Every step ({len(steps)}){e(more)}</summary><table>"
            '<tr><th class="n">#</th><th class="n">contact (s)</th><th class="n">duration (s)</th>'
            f'<th>direction</th><th class="n">confidence</th></tr>\n{rows}</table></details>'
        )
    return _page(f"gaitdir report: {trace.name}", "\n".join(body))


def history_html(
    days: Sequence[DayTotal],
    sessions: Sequence[SessionRecord],
    png: bytes,
    *,
    history_file: str | None = None,
) -> str:
    """A self-contained page of the history: the figure, the totals per day and the sessions."""
    e = html.escape
    total_f = sum(d.forward for d in days)
    total_b = sum(d.backward for d in days)
    body = [
        "<h1>Steps per day</h1>",
        f'<p class="counts" id="counts"><b>{total_f + total_b:,}</b> steps in {len(sessions)} sessions: '
        f'<span class="forward"><b id="forward">{total_f:,}</b> forward</span>, '
        f'<span class="backward"><b id="backward">{total_b:,}</b> backward</span></p>',
        f"<figure>{_img(png, 'forward and backward steps per day with their 7-day means')}</figure>",
    ]
    if days:
        rows = "\n".join(
            f'<tr><td>{d.date.isoformat()}</td><td class="n">{d.sessions}</td><td class="n">{d.steps:,}</td>'
            f'<td class="n forward">{d.forward:,}</td><td class="n backward">{d.backward:,}</td></tr>'
            for d in reversed(days)
        )
        body.append(
            '<h2>Days</h2><table><tr><th>date</th><th class="n">sessions</th><th class="n">steps</th>'
            f'<th class="n">forward</th><th class="n">backward</th></tr>\n{rows}</table>'
        )
    if sessions:
        rows = "\n".join(
            f'<tr><td class="n">{s.id}</td><td>{e(s.started.strftime("%Y-%m-%d %H:%M"))}</td>'
            f"<td>{e(s.sensor or '—')}</td><td>{e(s.placement or '—')}</td>"
            f'<td class="n">{s.steps:,}</td><td class="n forward">{s.forward:,}</td>'
            f'<td class="n backward">{s.backward:,}</td><td>{e(s.status)}</td></tr>'
            for s in reversed(sessions)
        )
        body.append(
            '<h2>Sessions</h2><table><tr><th class="n">id</th><th>started</th><th>sensor</th>'
            '<th>placement</th><th class="n">steps</th><th class="n">forward</th><th class="n">backward</th>'
            "<th>status</th></tr>"
            f"\n{rows}</table>"
        )
    if history_file:
        body.append(f"<p>History file: <code>{e(history_file)}</code></p>")
    return _page("gaitdir: steps per day", "\n".join(body))


def write_report(out_dir: str | Path, stem: str, png: bytes, page: str) -> tuple[Path, Path]:
    """Write ``out_dir/<stem>.png`` and ``out_dir/<stem>.html``, each atomically (temporary name, rename).

    Returns
    -------
    (Path, Path)
        The PNG and the page.
    """
    from gaitdir.recordings._writers import atomic_binary_writer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png_path, html_path = out / f"{stem}.png", out / f"{stem}.html"
    with atomic_binary_writer(png_path) as handle:
        handle.write(png)
    with atomic_binary_writer(html_path) as handle:
        handle.write(page.encode("utf-8"))
    return png_path, html_path
