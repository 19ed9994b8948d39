"""`snakemake --report`, opened as a person opens it: in a real headless Chromium (Debian's
package, installed here when missing), clicked through, and the screenshots checked for the
plots themselves, not only for the file."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import run_workflow

pytestmark = pytest.mark.workflow

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WINDOW = {"start": "2024-06-06", "end": "2024-06-14", "rest_datasets": "[tickers,dividends,splits]",
          "pull_date": "2024-06-10"}


def _chromium() -> str:
    """Debian's chromium, installed with apt-get when missing (CI machines start without it)."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and cannot be installed here (needs root and apt-get)")
    proc = subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, text=True,
                          env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if proc.returncode != 0 or not shutil.which("chromium"):
        update = subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True)
        proc = subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, text=True,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if proc.returncode != 0 or not shutil.which("chromium"):
            pytest.skip(f"chromium could not be installed: {(update.stderr + proc.stderr)[-300:]}")
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def report(tmp_path_factory, sandbox) -> Path:
    wd = tmp_path_factory.mktemp("report")
    run_workflow(wd, sandbox, config=WINDOW)
    out = wd / "report.html"
    run_workflow(wd, sandbox, "--report", str(out), config=WINDOW)
    return out


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (a dev dependency) drives the browser")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _plot_pixels(png: Path, colour: tuple[int, int, int], left: int) -> int:
    """Pixels of one matplotlib line colour right of the navigation bar of a screenshot."""
    import matplotlib.image as mpimg
    import numpy as np

    img = (mpimg.imread(str(png))[:, left:, :3] * 255).round().astype(int)
    return int(np.all(np.abs(img - np.array(colour)) <= 8, axis=-1).sum())


def test_report_opens_with_the_workflow_description(report, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(report.as_uri())
    page.wait_for_selector("text=turns a Polygon.io")
    text = page.inner_text("body")
    assert "quantmini turns a Polygon.io / Massive subscription" in text
    assert "This run: sessions 2024-06-06 .. 2024-06-14" in text
    nav = page.inner_text("nav")
    assert all(category in nav for category in ("Data", "Operations", "Metadata"))
    page.screenshot(path=str(tmp_path / "home.png"))
    page.close()


@pytest.mark.parametrize("label, filename", [("records per session", "records.png"), ("job run time", "runtime.png"),
                                             ("API calls and rate-limit waits", "api_calls.png")])
def test_each_plot_is_shown(report, browser, tmp_path, label, filename):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(report.as_uri())
    page.get_by_role("link", name="Data", exact=True).click()
    row = page.locator("tr", has_text=label)
    row.locator("a[iconname=eye]").click()
    image = page.locator(f"img[src*='filename={filename}']")
    image.wait_for(state="visible")
    box = image.bounding_box()
    assert box["width"] > 600 and box["height"] > 250, box  # drawn at a readable size
    shot = tmp_path / f"{filename}.screenshot.png"
    page.screenshot(path=str(shot))
    # The plot is on screen: matplotlib's first line colour (#1f77b4) or the API bars' blue
    # (#4a7ebb) fills hundreds of pixels right of the navigation bar.
    colour = (0x4A, 0x7E, 0xBB) if filename == "api_calls.png" else (0x1F, 0x77, 0xB4)
    assert _plot_pixels(shot, colour, left=int(box["x"])) > 300, f"no plot drawn in {shot}"
    page.close()


def test_quality_table_and_gaps_shown_with_alerts_highlighted(report, browser, sandbox):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(report.as_uri())
    page.get_by_role("link", name="Operations", exact=True).click()
    page.locator("tr", has_text="data quality").locator("a[iconname=eye]").click()
    page.wait_for_timeout(500)
    frames = [f for f in page.frames if "Data quality:" in (f.content() or "")]
    assert frames, "the quality table is not shown"
    table = frames[0]
    heading = table.inner_text("h2")
    assert heading.startswith("Data quality:")
    alert_rows = table.locator("tr.alert")
    if sandbox.fixtures:  # the real NVDA bad print of 2024-06-10, highlighted in red
        assert "NVDA high 195.95" in alert_rows.first.inner_text()
        colour = alert_rows.first.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
        assert colour == "rgb(248, 208, 208)"
    assert table.locator("tr").count() > 20  # every check, one row each
    page.get_by_role("link", name="Operations", exact=True).click()
    page.locator("tr", has_text="gaps per layer").locator("a[iconname=eye]").click()
    page.wait_for_timeout(500)
    assert any("Gaps per layer" in (f.content() or "") for f in page.frames)
    page.close()
