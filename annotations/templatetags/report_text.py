"""Rendering report text so the browser's text nodes equal the original exactly.

`{{ segment.text|report_text }}` escapes like Django's autoescape, and also
writes carriage returns and NULs as character references: the HTML parser turns
a raw "\\r\\n" into "\\n" (and drops raw NULs), which would shift every code-point
offset the browser computes after it. "&#13;" survives as U+000D; "&#0;" becomes
U+FFFD, one character for one, so offsets still agree.
"""

from collections.abc import Mapping
from typing import Any

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter(is_safe=True)
def report_text(value: str) -> SafeString:
    escaped = str(conditional_escape(value))
    return mark_safe(escaped.replace("\r", "&#13;").replace("\x00", "&#0;"))  # noqa: S308 - escaped above


@register.filter
def pct(value: float | None, digits: int = 1) -> str:
    """0.934 -> "93.4"; None -> "—"."""
    return "—" if value is None else f"{round(100 * value, digits) + 0.0:.{digits}f}"


@register.filter
def num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{round(value, digits) + 0.0:.{digits}f}"  # + 0.0: no "-0.00"


@register.filter
def get_item(mapping: Mapping[Any, object], key: object) -> object:
    return mapping.get(key, "")
