"""report.html of a run: every section, embedded plots, escaped text."""

from __future__ import annotations

import json

import pytest

from nasjax.app.report import main
from nasjax.app.run_report import RUN_SECTIONS, write_run_report
from tests.helpers import ParsedReport, write_run_folder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "run"
    write_run_folder(run)
    return run


def test_run_report_shows_every_section_with_embedded_plots(run_dir):
    path = write_run_report(run_dir)
    assert path == run_dir / "report.html"
    page = ParsedReport(path.read_text())
    assert page.headings == list(RUN_SECTIONS)
    # Self-contained: every plot is a data URI, nothing is fetched.
    assert len(page.images) >= 7
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert not {"script", "link", "iframe"} & set(page.tags)
    summary = json.loads((run_dir / "summary.json").read_text())
    text = page.text
    # The answer and every baseline, with CIs and paired tests.
    for name in ("nasjax ensemble (answer)", "nasjax best single arch", "logistic"):
        assert name in text
    acc = summary["ensemble"]["test"]["accuracy"]
    assert f"{acc['value']:.4f} [{acc['low']:.4f}, {acc['high']:.4f}]" in text
    assert "ensemble vs majority" in text and "p-value" in text
    # Lineage from results.parquet: parents and morphs of the best arch.
    assert "deepen, add_skip" in text and "seed:linear" in text
    assert "a" * 32 in text and "b" * 32 in text
    # Calibration with bin counts; equity with dates, costs and buy and hold.
    counts = summary["ensemble"]["reliability"]["count"]
    assert sum(counts) == summary["n_test"]
    assert "samples" in text and "reliability of ensemble" in text
    assert "2022-03-01T00:00:00Z" in text and "5.0 bps" in text
    assert "buy and hold (equal weight)" in text
    # Per-coin table of the answer.
    assert "ETH/USDT" in text and "nasjax ensemble (answer) accuracy" in text
    markdown = (run_dir / "report.md").read_text()
    for heading in RUN_SECTIONS:
        assert f"## {heading}" in markdown
    assert "](plots/equity.png)" in markdown


def test_run_report_escapes_text(run_dir, tmp_path):
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["warnings"] = ["<script>alert('x')</script> & more"]
    summary["searcher"] = "<b>random</b>"
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps(summary))
    raw = write_run_report(run).read_text()
    assert "<script>" not in raw and "<b>random" not in raw
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in raw
    page = ParsedReport(raw)
    assert "script" not in page.tags
    assert "warning: <script>alert('x')</script> & more" in page.text
    # Missing plots and results.parquet: every section is still there.
    assert page.headings == list(RUN_SECTIONS)


def test_report_cli_rebuilds_a_run_report(run_dir, capsys):
    (run_dir / "report.html").unlink(missing_ok=True)
    main([str(run_dir)])
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == f"report: {(run_dir / 'report.html').absolute()}"
    assert ParsedReport((run_dir / "report.html").read_text()).headings == list(
        RUN_SECTIONS
    )


def test_a_classification_summary_keeps_every_section(tmp_path):
    summary = {
        "task": "classification",
        "answer": "best",
        "best": {
            "fingerprint": "f" * 32,
            "arch": {"not": "an arch"},
            "test": {"accuracy": {"value": 0.8, "low": 0.7, "high": 0.9}},
            "test_trading": None,
        },
        "baselines": {"majority": {"metrics": {"accuracy": {"value": 0.5}}}},
        "notes": ["no trading view"],
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    page = ParsedReport(write_run_report(tmp_path).read_text())
    assert page.headings == list(RUN_SECTIONS)
    assert "No trading view for this task." in page.text
    assert "0.8000 [0.7000, 0.9000]" in page.text


def test_a_folder_without_summary_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"summary\.json"):
        write_run_report(tmp_path)


def test_a_failed_report_does_not_fail_the_finished_run(tmp_path, caplog):
    from nasjax.app.finish import write_report

    (tmp_path / "summary.json").write_text("[]")  # not a summary
    with caplog.at_level("ERROR", logger="nasjax.run"):
        assert write_report(tmp_path) is None
    assert "python -m nasjax.report" in caplog.text
