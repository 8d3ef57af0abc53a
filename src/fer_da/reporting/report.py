"""The report as a list of sections, built once and rendered to Markdown and to HTML (the
two can no longer drift). Library code: the reporting node hands over the tables and
figure names, this module says what the page shows and in which order."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Image:
    src: str
    width: int = 900
    title: str | None = None  # a caption heading (HTML h3; Markdown alt text)


Block = str | pd.DataFrame | Image  # a paragraph, a table or a figure


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


def inline_html(text: str) -> str:
    """Escaped text with the Markdown the report's prose uses (**bold**, `code`) as HTML."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def md_table(frame: pd.DataFrame) -> str:
    head = [frame.index.name or ""] + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for idx, row in frame.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [str(v) for v in row]) + " |")
    return "\n".join(lines)


def _md_block(block: Block) -> str:
    if isinstance(block, pd.DataFrame):
        return md_table(block)
    if isinstance(block, Image):
        return f"![{block.title or block.src.rsplit('/', 1)[-1]}]({block.src})"
    return block


def html_table(frame: pd.DataFrame) -> str:
    """A table whose named index is its first column (pandas would give the index's name a
    header row of its own), in a box that scrolls sideways rather than leave the page."""
    named = any(n is not None for n in frame.index.names)
    shown = frame.reset_index(allow_duplicates=True) if named else frame.copy()
    if shown.columns.nlevels > 1:  # one header row: ("CK", "acc") as "CK acc"
        shown.columns = [" ".join(str(p) for p in c if str(p)) for c in shown.columns]
    shown.columns.name = None  # (a pivot's column name would take a column of its own)
    return ("<div class='table'>" + shown.to_html(na_rep="", index=not named, border=0)
            + "</div>")


def _html_block(block: Block) -> str:
    if isinstance(block, pd.DataFrame):
        return html_table(block)
    if isinstance(block, Image):
        head = f"<h3>{html.escape(block.title)}</h3>" if block.title else ""
        return f'{head}<img src="{block.src}" width="{block.width}">'
    return f"<p>{inline_html(block)}</p>"


def to_markdown(title: str, intro: str, sections: Sequence[Section]) -> str:
    lines = [f"# {title}", "", intro, ""]
    for s in sections:
        lines += [f"## {s.title}", ""]
        for block in s.blocks:
            lines += [_md_block(block), ""]
    return "\n".join(lines)


def to_html(title: str, intro: str, sections: Sequence[Section]) -> str:
    parts = [f"<h1>{html.escape(title)}</h1><p>{inline_html(intro)}</p>"]
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>"
                     + "".join(_html_block(b) for b in s.blocks))
    return ("<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:auto;padding:0 1em}"
            "div.table{overflow-x:auto;margin:0.5em 0}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}"
            "th{background:#f4f4f4}td{overflow-wrap:break-word}img{max-width:100%;height:auto}"
            "</style></head><body>" + "".join(parts) + "</body></html>")


def drop_empty(frame: pd.DataFrame) -> pd.DataFrame:
    """Without the columns that hold nothing (std and intervals of single-seed tables)."""
    return frame.loc[:, [c for c in frame.columns if frame[c].notna().any()
                         and not (frame[c].astype(str) == "").all()]]


Results = Mapping[str, Any]  # the reporting node's inputs by name
