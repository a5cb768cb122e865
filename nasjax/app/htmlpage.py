"""A small document model rendered as one self-contained HTML page and as
Markdown.

A :class:`Page` is a title and a list of sections; a section is an ``<h2>``
heading and blocks (paragraphs, tables, images, preformatted text). The HTML
rendering escapes every text (``html.escape``), embeds images as base64
``data:`` URIs and carries its own CSS, so the file opens anywhere, offline,
without JavaScript; the Markdown rendering links images by their path
relative to the page's folder. Only the standard library is used.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:0.8em 0;font-size:0.9em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
img{max-width:100%;height:auto;display:block;margin:0.6em 0}
pre{background:#f6f6f6;padding:0.6em;overflow-x:auto;font-size:0.85em}
.note{color:#666;font-size:0.9em}
"""


@dataclass(frozen=True)
class Text:
    """A paragraph (``note`` renders it small and grey)."""

    text: str
    note: bool = False


@dataclass(frozen=True)
class Link:
    """A table cell linking ``href`` (a relative path or a URL) as ``text``."""

    text: str
    href: str


@dataclass(frozen=True)
class Table:
    """A table of strings (or links); the first column is a row label."""

    headers: Sequence[str]
    rows: Sequence[Sequence[str | Link]]
    caption: str = ""


@dataclass(frozen=True)
class Image:
    """A PNG file, embedded in HTML, linked in Markdown."""

    path: Path
    alt: str


@dataclass(frozen=True)
class Pre:
    """Preformatted text (an op list, a configuration)."""

    text: str


Block = Text | Table | Image | Pre


@dataclass
class Section:
    """An ``<h2>`` heading and its blocks."""

    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Page:
    """A titled list of sections.

    Attributes:
        title: The ``<title>`` and ``<h1>``.
        sections: In display order.
    """

    title: str
    sections: list[Section] = field(default_factory=list)

    def section(self, title: str, *blocks: Block) -> Section:
        """Append a section (blocks may be added to it later) and return it."""
        sec = Section(title, list(blocks))
        self.sections.append(sec)
        return sec

    def to_html(self) -> str:
        """The page as one self-contained HTML document."""
        e = html.escape
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{e(self.title)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{e(self.title)}</h1>",
        ]
        for sec in self.sections:
            parts.append(f"<h2>{e(sec.title)}</h2>")
            parts.extend(_html_block(b) for b in sec.blocks)
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"

    def to_markdown(self, folder: Path) -> str:
        """The page as Markdown; images are linked relative to ``folder``."""
        parts = [f"# {_md_text(self.title)}"]
        for sec in self.sections:
            parts.append(f"## {_md_text(sec.title)}")
            parts.extend(_md_block(b, folder) for b in sec.blocks)
        return "\n\n".join(parts) + "\n"

    def write(self, folder: Path, stem: str = "report") -> Path:
        """Write ``folder/stem.html`` and ``folder/stem.md``.

        Returns:
            The HTML file's path.
        """
        path = folder / f"{stem}.html"
        path.write_text(self.to_html(), encoding="utf-8")
        (folder / f"{stem}.md").write_text(self.to_markdown(folder), encoding="utf-8")
        return path


def data_uri(path: Path) -> str:
    """``data:image/png;base64,...`` of a PNG file."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _html_block(block: Block) -> str:
    e = html.escape
    if isinstance(block, Text):
        cls = ' class="note"' if block.note else ""
        return f"<p{cls}>{e(block.text)}</p>"
    if isinstance(block, Pre):
        return f"<pre>{e(block.text)}</pre>"
    if isinstance(block, Image):
        if not block.path.is_file():
            return f'<p class="note">{e(block.alt)}: no plot ({e(block.path.name)})</p>'
        return f'<img src="{data_uri(block.path)}" alt="{e(block.alt)}">'
    head = "".join(f"<th>{e(h)}</th>" for h in block.headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{_html_cell(c)}</td>" for c in row) + "</tr>"
        for row in block.rows
    )
    caption = f"<caption>{e(block.caption)}</caption>" if block.caption else ""
    return (
        f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _html_cell(cell: str | Link) -> str:
    if isinstance(cell, Link):
        return f'<a href="{html.escape(cell.href)}">{html.escape(cell.text)}</a>'
    return html.escape(cell)


def _md_cell(cell: str | Link) -> str:
    if isinstance(cell, Link):
        href = cell.href.replace(" ", "%20").replace(")", "%29")
        return f"[{_md_text(cell.text, cell=True)}]({href})"
    return _md_text(cell, cell=True)


def _md_text(text: str, cell: bool = False) -> str:
    """``text`` with what Markdown would read as markup escaped (a table
    ``cell`` starts no block, so its leading ``-`` or ``#`` stays)."""
    out = text.replace("\\", "\\\\")
    for ch in "`*[]<|":
        out = out.replace(ch, "\\" + ch)
    out = out.replace("\n", " ")
    if not cell and out.startswith(("#", "_", "-", "+", ">")):
        out = "\\" + out
    return out


def _md_block(block: Block, folder: Path) -> str:
    if isinstance(block, Text):
        return f"*{_md_text(block.text)}*" if block.note else _md_text(block.text)
    if isinstance(block, Pre):
        fence = "````" if "```" in block.text else "```"
        return f"{fence}\n{block.text}\n{fence}"
    if isinstance(block, Image):
        rel = Path(os.path.relpath(block.path, folder)).as_posix()
        return f"![{_md_text(block.alt)}]({rel.replace(' ', '%20')})"
    lines = [
        "| " + " | ".join(_md_text(h, cell=True) for h in block.headers) + " |",
        "|" + "---|" * len(block.headers),
    ]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
    if block.caption:
        lines.insert(0, f"*{_md_text(block.caption)}*\n")
    return "\n".join(lines)
