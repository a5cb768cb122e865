"""Reports rendered in headless Chromium (the renderer from npm)."""

import shutil

import pytest

from nasjax.app.browser import BrowserNotFound, check_page, problems
from nasjax.app.report import main as report_main
from nasjax.app.run_report import RUN_SECTIONS, write_run_report
from tests.helpers import write_run_folder

SECTIONS = ("Run", "Answer vs baselines", "Equity")


def _shown(headings, images=(), ok=True):
    return {
        "headings": [{"text": h, "visible": True} for h in headings],
        "images": [
            {"alt": a, "width": w, "height": 10, "visible": True} for a, w in images
        ],
        "ok": ok,
    }


def test_a_complete_page_has_no_problems():
    assert problems(_shown(SECTIONS, [("plot", 640)]), SECTIONS) == []


def test_missing_reordered_hidden_and_broken_parts_are_named():
    assert problems(_shown(SECTIONS[:2]), SECTIONS) == ["section 'Equity' is missing"]
    assert "out of order" in problems(_shown(SECTIONS[::-1]), SECTIONS)[0]
    hidden = _shown(SECTIONS)
    hidden["headings"][1]["visible"] = False
    assert problems(hidden, SECTIONS) == [
        "section 'Answer vs baselines' has no size on the page"
    ]
    broken = problems(_shown(SECTIONS, [("ok", 5), ("equity", 0)]), SECTIONS)
    assert broken == ["image 1 (equity) did not decode"]
    assert problems(_shown(SECTIONS, ok=False), SECTIONS) == ["the page did not load"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None, reason="needs node and npm")
def test_a_run_report_renders_every_section_in_chromium(tmp_path, capsys):
    run = tmp_path / "run"
    write_run_folder(run)
    page = write_run_report(run)
    try:
        shown = check_page(page, RUN_SECTIONS, screenshot=tmp_path / "page.png")
    except BrowserNotFound as err:  # no registry to install it from
        pytest.skip(str(err))
    assert [h["text"] for h in shown["headings"]] == list(RUN_SECTIONS)
    assert shown["images"] and all(i["width"] > 0 for i in shown["images"])
    assert (tmp_path / "page.png").stat().st_size > 10_000
    # the CLI: exit 1 and the missing section named when the page lacks one
    page.write_text(page.read_text().replace("<h2>Equity</h2>", "<h3>Equity</h3>"))
    (run / "summary.json").touch()
    report_main([str(run), "--browser-check"])  # rewritten: complete again
    assert "8 sections rendered in order" in capsys.readouterr().out
    broken = tmp_path / "broken.html"
    broken.write_text(page.read_text().replace("<h2>Equity</h2>", ""))
    with pytest.raises(ValueError, match="section 'Equity' is missing"):
        check_page(broken, RUN_SECTIONS)
