"""``gaitdir report``: figures and pages of recordings, history sessions and days, seen in a real browser."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gaitdir.cli import app
from gaitdir.pipeline import classify_recording
from gaitdir.recordings import read_recording, sample_recording_path


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("CI must install chromium (.ci/run does it with apt-get)")
    pytest.skip("no headless Chromium here (apt-get install chromium)")


# Added to a copy of the page: after loading, writes what the browser made of the figure into the DOM.
_PROBE = """<script>
window.addEventListener("load", () => {
  const img = document.getElementById("figure");
  const p = document.createElement("p");
  p.id = "probe";
  const shown = img.getBoundingClientRect();
  p.textContent = `complete=${img.complete} natural=${img.naturalWidth}x${img.naturalHeight} ` +
    `shown=${Math.round(shown.width)}x${Math.round(shown.height)} ` +
    `forward=${document.getElementById("forward").textContent} ` +
    `backward=${document.getElementById("backward").textContent}`;
  document.body.appendChild(p);
});
</script>"""


def render(page: Path, tmp_path: Path) -> str:
    """The DOM of ``page`` after load in headless Chromium, with the probe's line."""
    probed = tmp_path / f"probed-{page.name}"
    probed.write_text(
        page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8"
    )
    done = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--window-size=1400,1000",
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_report_of_the_sample_shows_figure_and_counts_in_a_browser(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["report", str(sample_recording_path()), "--out", str(out)])
    assert result.exit_code == 0, result.output
    expected = classify_recording(read_recording(sample_recording_path())).counts()
    assert f"{expected['steps']} steps, {expected['forward']} forward" in result.stdout
    width, height = png_size(out / "sample_walk.png")
    assert width >= 1200 and height >= 1200
    page = out / "sample_walk.html"
    text = page.read_text(encoding="utf-8")
    assert "data:image/png;base64," in text and "first-steps" in text

    dom = render(page, tmp_path)
    probe = re.search(r'<p id="probe">([^<]*)</p>', dom)
    assert probe is not None, dom[-2000:]
    fields = dict(item.split("=", 1) for item in probe.group(1).split())
    assert fields["complete"] == "true"
    assert fields["natural"] == f"{width}x{height}"  # the embedded PNG decoded at its real size
    shown_w, shown_h = (int(v) for v in fields["shown"].split("x"))
    assert shown_w > 800 and shown_h > 800
    assert (fields["forward"], fields["backward"]) == (str(expected["forward"]), str(expected["backward"]))
    assert f"<b>{expected['steps']}</b> steps" in dom


def test_a_broken_page_would_be_seen(tmp_path: Path) -> None:
    """The browser check fails on a page whose figure does not decode."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img id="figure" src="data:image/png;base64,iVBORw0KGgoAAAA">'
        '<b id="forward">1</b><b id="backward">0</b></body></html>'
    )
    dom = render(page, tmp_path)
    probe = re.search(r'<p id="probe">([^<]*)</p>', dom)
    assert probe is not None and "natural=0x0" in probe.group(1)


def test_report_names_the_bad_file_line_and_column_and_draws_the_rest(
    runner: CliRunner, tmp_path: Path
) -> None:
    lines = sample_recording_path().read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("time_s"))
    bad_line = header + 4  # 0-based index of the third data row
    cells = lines[bad_line].split(",")
    cells[2] = "9.8O"
    lines[bad_line] = ",".join(cells)
    bad = tmp_path / "walk2.csv"
    bad.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["report", str(bad), str(sample_recording_path()), "--out", str(out)])
    assert result.exit_code == 1
    assert f"error: {bad}, line {bad_line + 1}, column 'acc_y': not a number: '9.8O'" in result.stderr
    assert "1 of 2 reports failed" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["sample_walk.html", "sample_walk.png"]


def test_report_of_a_session_id_and_of_the_days(runner: CliRunner, tmp_path: Path) -> None:
    classified = runner.invoke(
        app, ["classify", str(sample_recording_path()), "--history", "--out", str(tmp_path / "steps")]
    )
    assert classified.exit_code == 0, classified.output
    out = tmp_path / "out"
    result = runner.invoke(app, ["report", "1", "--history", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "history.html",
        "history.png",
        "sample_walk.html",
        "sample_walk.png",
    ]
    width, height = png_size(out / "history.png")
    assert width >= 1200 and height >= 600
    page = (out / "history.html").read_text(encoding="utf-8")
    assert '<b id="forward">134</b>' in page and "classified" in page
    dom = render(out / "history.html", tmp_path)
    assert f"natural={width}x{height}" in dom

    missing = runner.invoke(app, ["report", "7", "--out", str(out)])
    assert missing.exit_code == 1 and "no session 7 in the history" in missing.stderr
    nothing = runner.invoke(app, ["report", "--out", str(out)])
    assert nothing.exit_code == 2
