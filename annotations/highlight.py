"""Split a report's text into segments for highlighting overlapping spans.

Pure function, no Django: the template renders each segment's text escaped
(report text is untrusted) inside a <span> with the classes of every span
that covers it, so overlapping and adjacent mentions both display.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    css: str
    title: str = ""


@dataclass
class Segment:
    text: str
    start: int
    end: int
    spans: list[Span] = field(default_factory=list)

    @property
    def css(self) -> str:
        return " ".join(dict.fromkeys(s.css for s in self.spans))

    @property
    def title(self) -> str:
        return "; ".join(s.title for s in self.spans if s.title)


def segments(text: str, spans: list[Span]) -> list[Segment]:
    """Cut `text` at every span boundary; each piece lists the spans covering it.
    Spans outside the text are clipped; empty ones are ignored."""
    valid = [s for s in spans if 0 <= s.start < s.end and s.start < len(text)]
    cuts = sorted({0, len(text)} | {s.start for s in valid} | {min(s.end, len(text)) for s in valid})
    out = []
    for start, end in itertools.pairwise(cuts):
        covering = [s for s in valid if s.start <= start and s.end >= end]
        out.append(Segment(text=text[start:end], start=start, end=end, spans=covering))
    return out
