"""Regular-expression entity values that cannot hang a worker.

Python's `re` backtracks: a pattern that repeats a group which itself repeats or
offers alternatives (`(a+)+$`, `(a|ab)*c`, `(\\w+\\s?)*$`) takes time exponential in
the length of a text it almost matches; `(a+)+$` on 24 a's and a "!" took a second,
each further "a" doubles it. An admin types these values, and every weak-label run,
suggestion and rule-engine pass matches them against every report.

Two guards (docs/decisions.md, "Issue 16: regular-expression entity values"):
- `backtracking_problem`, when a value is saved: such nesting, found on the parsed
  pattern, is refused with a message that says what to write instead.
- at run time, a value `re` could backtrack on (nested repetition: one saved before
  the check, or one of the shipped schema's) stays out of the matcher's shared `re`
  pass: it is scanned on its own by the `regex` module
  (the syntax and Unicode semantics of `re`) under a timeout (`bounded_spans`); one
  that runs out of time contributes nothing to that text, and the scan goes on.

Plain Python, no Django.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import regex

logger = logging.getLogger(__name__)

# The parser `re` compiles with: its syntax tree shows nested repetition.
_parser: Any = importlib.import_module("re._parser")

MATCH_SECONDS = 2.0  # per value and text; reports are at most ~100k characters
# A group repeated at most FEW times ("(?:\\w+\\s+){0,2}", two words at most) splits a
# text in polynomially many ways, not exponentially: not nesting in this sense.
FEW = 3
_BACKTRACKING_REPEATS = ("MAX_REPEAT", "MIN_REPEAT")  # POSSESSIVE_REPEAT gives nothing back

NESTED = (
    "it repeats a group that itself repeats or has alternatives, such as (a+)+ or (a|ab)*, "
    "and matching that can take exponentially long. Write the repeat once "
    "(a+ instead of (a+)+), or make the alternatives a character class ([ab]+)."
)


def backtracking_problem(pattern: str, flags: int = 0) -> str | None:
    """Why matching `pattern` with `re` could take exponentially long, or None.
    `pattern` must compile with `re`."""
    if _nested(_parser.parse(pattern, flags).data, inside_repeat=False):
        return NESTED
    return None


def _nested(items: Any, *, inside_repeat: bool) -> bool:
    """Whether a repeat that may match more than FEW times contains a repeat that may
    match more than once or an alternation, at any depth."""
    for op, av in items:
        name = str(op)
        if name in _BACKTRACKING_REPEATS:
            repeats, many = av[1] > 1, av[1] > FEW
            if (repeats and inside_repeat) or _nested(av[2], inside_repeat=inside_repeat or many):
                return True
        else:
            ambiguous = name == "BRANCH" and inside_repeat and len(av[1]) > 1
            if ambiguous or any(_nested(body, inside_repeat=inside_repeat) for body in _bodies(name, av)):
                return True
    return False


def _bodies(name: str, av: Any) -> list[Any]:
    """The sub-patterns of a node other than a repeat that the matcher may backtrack
    into (an atomic group and a possessive repeat give nothing back)."""
    if name == "BRANCH":
        return list(av[1])
    if name == "SUBPATTERN":
        return [av[3]]
    if name in ("ASSERT", "ASSERT_NOT"):
        return [av[1]]
    if name == "GROUPREF_EXISTS":
        return [body for body in av[1:] if body is not None]
    return []


def bounded_compile(pattern: str, *, case_sensitive: bool) -> Any:
    """`pattern` compiled by the `regex` module, for `bounded_spans`; None in the
    rare case that it reads a pattern `re` accepts differently and refuses it."""
    try:
        return regex.compile(pattern, 0 if case_sensitive else regex.IGNORECASE)
    except regex.error:
        return None


def bounded_spans(compiled: Any, text: str, *, seconds: float = MATCH_SECONDS) -> list[tuple[int, int]]:
    """Non-empty spans of `compiled` (from bounded_compile) in `text`; none if
    matching takes longer than `seconds` (logged)."""
    try:
        spans = [m.span() for m in compiled.finditer(text, timeout=seconds)]
    except TimeoutError:
        logger.warning(
            "regex value %r took over %s s on a %d-character text; skipped",
            compiled.pattern,
            seconds,
            len(text),
        )
        return []
    return [(start, end) for start, end in spans if end > start]
