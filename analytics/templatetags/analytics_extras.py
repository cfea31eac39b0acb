from typing import SupportsFloat

from django import template

register = template.Library()


@register.filter
def signed(value: str | SupportsFloat | None, digits: int = 3) -> str:
    """0.0123 -> '+0.012'; '' for None, so `|default` can fill in."""
    if value is None or value == "":
        return ""
    try:
        return f"{float(value):+.{int(digits)}f}"
    except (TypeError, ValueError):
        return ""
