"""HTML of the review screen's repetitive parts, built in Python.

The report's segments (hundreds of spans), the 9 x 11 lesion x location grid
and the choice lists of every finding's edit form cost most of a page's render
time as template loops (Django templates spend microseconds per node); built
here with `escape` they cost a tenth. Every value from the database or the
report goes through `escape`; report text also through `report_text`, so the
browser's text nodes equal the original exactly (offsets stay true).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from annotations.templatetags.report_text import report_text


def segments_html(segments: Iterable[Any]) -> SafeString:
    out = []
    for seg in segments:
        css = f"seg {escape(seg.css)}" if seg.css else "seg"
        title = f' title="{escape(seg.title)}"' if seg.title else ""
        attrs = f'class="{css}" data-start="{seg.start}" data-end="{seg.end}"{title}'
        out.append(f"<span {attrs}>{report_text(seg.text)}</span>")
    return mark_safe("".join(out))  # noqa: S308 - every part escaped above


def options_html(choices: Iterable[str], selected: str = "", *, suffix: str = "") -> SafeString:
    out = []
    for value in choices:
        sel = " selected" if value == selected else ""
        out.append(f'<option value="{escape(value)}"{sel}>{escape(value)}{suffix}</option>')
    return mark_safe("".join(out))  # noqa: S308 - escaped above


def checkboxes_html(name: str, choices: Iterable[str], checked: Iterable[str] = ()) -> SafeString:
    on = set(checked)
    out = []
    for value in choices:
        mark = " checked" if value in on else ""
        v = escape(value)
        out.append(f'<label><input type="checkbox" name="{name}" value="{v}"{mark}> {v}</label>')
    return mark_safe("".join(out))  # noqa: S308 - escaped above


def grid_html(grid: list[tuple[str, list[Any]]], locations: list[str], *, editable: bool) -> SafeString:
    """The lesion x location table; cells post through review.js (one delegated handler)."""
    head = "".join(f'<th title="{escape(loc)}"><span>{escape(loc)}</span></th>' for loc in locations)
    rows = []
    for lesion, cells in grid:
        tds = []
        for c in cells:
            css = "cell" + (" on" if c.ticked else "") + (" ai" if c.by_ai else "")
            f = c.finding
            attrs = f' data-lesion="{escape(lesion)}" data-location="{escape(c.location)}"'
            if f is not None:
                attrs += f' data-finding="{f.pk}" data-version="{f.version}"'
                if f.evidence_start is not None:
                    attrs += f' data-ev-start="{f.evidence_start}" data-ev-end="{f.evidence_end}"'
            label = escape(f"{lesion} in {c.location}")
            mark = "✓" if c.ticked else ("·" if c.by_ai else "")
            disabled = "" if editable else " disabled"
            tds.append(
                f'<td><button type="button" class="{css}" aria-pressed="{"true" if c.ticked else "false"}" '
                f'aria-label="{label}" title="{label}"{attrs}{disabled}>{mark}</button></td>'
            )
        rows.append(f'<tr><th scope="row">{escape(lesion)}</th>{"".join(tds)}</tr>')
    body = "".join(rows)
    table = f'<table class="rv-grid"><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>'
    return mark_safe(table)  # noqa: S308 - escaped above
