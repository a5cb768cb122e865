"""report.html of a sweep, grouped by a swept config key."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from nasjax.app.report import main
from nasjax.app.sweep_report import SWEEP_SECTIONS
from tests.helpers import ParsedReport


def _write_run(root, job: int, acc: float, inherit: bool) -> None:
    run = root / str(job)
    (run / ".hydra").mkdir(parents=True)
    summary = {
        "searcher": "random",
        "answer": "best",
        "n_evaluations": 8,
        "progress": [acc - 0.01, acc],
        "best": {"fitness": acc, "test": {"accuracy": {"value": acc}}},
        "baselines": {"majority": {"metrics": {"accuracy": {"value": 0.5}}}},
    }
    (run / "summary.json").write_text(json.dumps(summary))
    config = {"seed": job, "search": {"inherit": inherit, "name": "random"}}
    OmegaConf.save(OmegaConf.create(config), run / ".hydra" / "config.yaml")
    (run / ".hydra" / "overrides.yaml").write_text(
        f"- search.inherit={str(inherit).lower()}\n- seed={job}\n"
    )


def test_sweep_report_groups_by_search_inherit(tmp_path, capsys):
    accs = {True: [0.55, 0.57], False: [0.51, 0.52, 0.53]}
    job = 0
    for inherit, values in accs.items():
        for acc in values:
            _write_run(tmp_path, job, acc, inherit)
            job += 1
    main([str(tmp_path), "--by", "search.inherit"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == f"report: {(tmp_path / 'report.html').absolute()}"
    page = ParsedReport((tmp_path / "report.html").read_text())
    assert page.headings == list(SWEEP_SECTIONS)
    assert page.images and page.images[0].startswith("data:image/png;base64,")
    _, groups, runs = page.tables
    header, *rows = groups
    assert header[:3] == ["search.inherit", "runs", "val_fitness"]
    by_key = {row[0]: row for row in rows}
    assert set(by_key) == {"True", "False"}
    assert by_key["True"][1] == "2" and by_key["False"][1] == "3"
    col = header.index("test_accuracy")
    assert by_key["True"][col].startswith("0.5600 [")
    assert by_key["False"][col].startswith("0.5200 [")
    low, high = by_key["False"][col].removeprefix("0.5200 [").rstrip("]").split(", ")
    assert float(low) < 0.52 < float(high)
    assert len(runs) == 1 + 5
    assert [row[-1] for row in runs[1:]] == ["-"] * 5  # no run has a report
    assert "search.inherit=true seed=0" in page.text
    assert "## Groups" in (tmp_path / "report.md").read_text()


def test_a_single_run_group_has_no_interval(tmp_path):
    _write_run(tmp_path, 0, 0.55, True)
    _write_run(tmp_path, 1, 0.51, False)
    main([str(tmp_path), "--by", "search.inherit"])
    _, groups, _ = ParsedReport((tmp_path / "report.html").read_text()).tables
    col = groups[0].index("test_accuracy")
    assert {row[col] for row in groups[1:]} == {"0.5500", "0.5100"}


@pytest.mark.parametrize("by", ["searcher", "search.name"])
def test_sweep_report_by_a_summary_column_or_a_config_key(tmp_path, by):
    _write_run(tmp_path, 0, 0.55, True)
    main([str(tmp_path), "--by", by])
    page = ParsedReport((tmp_path / "report.html").read_text())
    assert page.tables[1][0][0] == by
    assert page.tables[1][1][0] == "random"


def test_sweep_report_links_each_run_report(tmp_path):
    _write_run(tmp_path, 0, 0.55, True)
    (tmp_path / "0" / "report.html").write_text("<!DOCTYPE html>")
    main([str(tmp_path), "--by", "search.inherit"])
    raw = (tmp_path / "report.html").read_text()
    assert '<a href="0/report.html">0/report.html</a>' in raw
    assert "[0/report.html](0/report.html)" in (tmp_path / "report.md").read_text()
