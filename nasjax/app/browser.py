"""Render a report page in headless Chromium and read back what it shows.

``python -m nasjax.report RUN_DIR --browser-check`` opens the run's
``report.html`` in a real headless Chromium and checks that every section
heading of :data:`~nasjax.app.run_report.RUN_SECTIONS` (or, for a sweep
folder, :data:`~nasjax.app.sweep_report.SWEEP_SECTIONS`) is rendered with a
size, in order, and that every embedded image decoded. ``--screenshot
PATH`` also saves the full page as a PNG.

Chromium comes from npm, with nothing but ``node`` and ``npm`` needed on
the machine: ``@sparticuz/chromium`` ships a self-contained headless build
(it runs where no system browser or shared libraries are installed) and
``puppeteer-core`` drives it. :func:`find_renderer` installs both into the
cache folder (``$NASJAX_CACHE/chromium`` or ``~/.cache/nasjax/chromium``) on
first use. The core install of nasjax does not need any of this.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PACKAGES: tuple[str, ...] = ("@sparticuz/chromium@153", "puppeteer-core@24")
"""The npm packages of the renderer (a headless Chromium build and its driver)."""

RENDER_SCRIPT = r"""
import chromium from "@sparticuz/chromium";
import puppeteer from "puppeteer-core";

const [url, screenshot] = process.argv.slice(2);
const browser = await puppeteer.launch({
  args: chromium.args,
  executablePath: await chromium.executablePath(),
  headless: "shell",
  protocolTimeout: 120000,
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const response = await page.goto(url, { waitUntil: "load", timeout: 120000 });
  const shown = await page.evaluate(() => {
    const box = (e) => {
      const r = e.getBoundingClientRect();
      return r.width > 0 && r.height > 0;
    };
    return {
      title: document.title,
      headings: [...document.querySelectorAll("h2")].map((h) => ({
        text: h.textContent.trim(),
        visible: box(h),
      })),
      images: [...document.images].map((i) => ({
        alt: i.alt,
        width: i.naturalWidth,
        height: i.naturalHeight,
        visible: box(i),
      })),
      tables: document.querySelectorAll("table").length,
      height: document.documentElement.scrollHeight,
    };
  });
  shown.ok = response === null || response.ok();
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  process.stdout.write(JSON.stringify(shown));
} finally {
  await browser.close();
}
"""
"""The node script: open a URL, report headings, images and tables as JSON."""


class BrowserNotFound(RuntimeError):
    """No headless Chromium could be found or installed (the message says why)."""


def cache_dir() -> Path:
    """Where :func:`find_renderer` installs the renderer
    (``$NASJAX_CACHE/chromium``)."""
    root = os.environ.get("NASJAX_CACHE") or Path.home() / ".cache" / "nasjax"
    return Path(root) / "chromium"


def _installed(folder: Path) -> bool:
    return all(
        (folder / "node_modules" / p.rsplit("@", 1)[0] / "package.json").is_file()
        for p in PACKAGES
    )


def find_renderer(install: bool = True, timeout: float = 600.0) -> Path:
    """The folder holding the render script and its npm packages.

    Args:
        install: Install the packages with npm into :func:`cache_dir` when
            missing.
        timeout: Seconds the npm install may take.

    Raises:
        BrowserNotFound: Saying what was tried and how to install by hand.
    """
    folder = cache_dir()
    if not shutil.which("node"):
        raise BrowserNotFound("node is not on PATH (the renderer runs on Node.js)")
    if not _installed(folder):
        npm = shutil.which("npm")
        if not (install and npm):
            raise BrowserNotFound(
                f"the renderer is not installed in {folder}; run `npm install "
                f"{' '.join(PACKAGES)}` there"
            )
        folder.mkdir(parents=True, exist_ok=True)
        cmd = [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"]
        try:
            res = subprocess.run(
                [*cmd, *PACKAGES],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise BrowserNotFound(
                f"`npm install {' '.join(PACKAGES)}` timed out after {timeout:.0f} s"
            ) from None
        if res.returncode != 0 or not _installed(folder):
            raise BrowserNotFound(
                f"`npm install {' '.join(PACKAGES)}` in {folder} failed: "
                f"{res.stderr.strip()[-400:]}"
            )
    (folder / "render.mjs").write_text(RENDER_SCRIPT)
    return folder


def render(
    page: str | Path, screenshot: str | Path | None = None, timeout: float = 180.0
) -> dict[str, Any]:
    """Open ``page`` in headless Chromium and read back what it shows.

    Args:
        page: An HTML file.
        screenshot: Save a full-page PNG here (None: no screenshot).
        timeout: Seconds the browser may take.

    Returns:
        ``{"title", "headings": [{"text", "visible"}], "images": [{"alt",
        "width", "height", "visible"}], "tables", "height", "ok"}``: the
        ``<h2>`` headings, the decoded size of every image (0 when it failed
        to decode), the number of tables and the page's height in pixels.

    Raises:
        FileNotFoundError: If ``page`` does not exist.
        BrowserNotFound: If no renderer can be installed.
        RuntimeError: If the browser fails (its error output is included).
    """
    path = Path(page).absolute()
    if not path.is_file():
        raise FileNotFoundError(f"no page to render at {path}")
    folder = find_renderer()
    args = ["node", str(folder / "render.mjs"), path.as_uri()]
    if screenshot is not None:
        args.append(str(Path(screenshot).absolute()))
    try:
        res = subprocess.run(
            args, cwd=folder, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        msg = f"headless Chromium timed out after {timeout:.0f} s"
        raise RuntimeError(msg) from None
    if res.returncode != 0:
        raise RuntimeError(f"headless Chromium failed: {res.stderr.strip()[-1500:]}")
    return json.loads(res.stdout)


def problems(shown: dict[str, Any], sections: Sequence[str]) -> list[str]:
    """What a rendered page lacks: sections missing, out of order or of no
    size, images that did not decode, a failed load. Empty when all is well."""
    found = [h["text"] for h in shown["headings"]]
    out = [f"section {s!r} is missing" for s in sections if s not in found]
    present = [h for h in found if h in sections]
    if not out and present != list(sections):
        out.append(f"sections out of order: {present}")
    out += [
        f"section {h['text']!r} has no size on the page"
        for h in shown["headings"]
        if not h["visible"]
    ]
    out += [
        f"image {i}{' (' + img['alt'] + ')' if img['alt'] else ''} did not decode"
        for i, img in enumerate(shown["images"])
        if img["width"] == 0 or img["height"] == 0
    ]
    if not shown.get("ok", True):
        out.append("the page did not load")
    return out


def check_page(
    page: str | Path,
    sections: Sequence[str],
    screenshot: str | Path | None = None,
) -> dict[str, Any]:
    """Render ``page`` and require every section and image (see
    :func:`problems`).

    Returns:
        What :func:`render` read back.

    Raises:
        ValueError: Listing every problem found.
    """
    shown = render(page, screenshot)
    found = problems(shown, sections)
    if found:
        raise ValueError(f"{page}: " + "; ".join(found))
    return shown
