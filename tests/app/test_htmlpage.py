"""The page model: escaped HTML with embedded images, and its Markdown twin."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from nasjax.app.htmlpage import Image, Link, Page, Pre, Table, Text
from tests.helpers import ParsedReport


def _png(path):
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1])
    fig.savefig(path)
    plt.close(fig)
    return path


def test_page_renders_escaped_html_and_markdown(tmp_path):
    (tmp_path / "plots").mkdir()
    png = _png(tmp_path / "plots" / "a plot.png")
    page = Page("title <&>")
    page.section(
        "One <b>",
        Text("x < y & z"),
        Table(
            ("name", "value"),
            [("a|b", "-1"), ("run", Link("0/report.html", '0/"q".html'))],
            caption="cap",
        ),
    )
    page.section("Two", Image(png, "alt 'x'"), Image(tmp_path / "gone.png", "gone"))
    page.section("Three", Pre("1:conv<-(0)"))
    path = page.write(tmp_path)
    raw = path.read_text()
    assert "<b>" not in raw and "One &lt;b&gt;" in raw
    assert 'href="0/&quot;q&quot;.html"' in raw
    parsed = ParsedReport(raw)
    assert parsed.headings == ["One <b>", "Two", "Three"]
    assert len(parsed.images) == 1
    assert parsed.images[0].startswith("data:image/png;base64,iVBOR")
    assert "gone: no plot (gone.png)" in parsed.text
    assert parsed.tables[0] == [
        ["name", "value"],
        ["a|b", "-1"],
        ["run", "0/report.html"],
    ]
    md = (tmp_path / "report.md").read_text()
    assert md.startswith("# title \\<&>\n")
    assert "## One \\<b>" in md
    assert "| a\\|b | -1 |" in md
    assert '[0/report.html](0/"q".html)' in md
    assert "![alt 'x'](plots/a%20plot.png)" in md
    assert "```\n1:conv<-(0)\n```" in md
