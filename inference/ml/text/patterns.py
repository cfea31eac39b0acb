"""Building blocks of the compiled regexes: case folding that keeps offsets, word
edges that work for English and Korean, and a prefix tree (trie) of phrases
compiled into one regular expression.

Why a trie: Python's `re` tries the alternatives of `a|b|c` one after another at
every position of the text, so a flat alternation of 200 keywords costs ~200
checks per character. Factored by common prefix (`n(?:odul(?:e|ar)|...)`) a
position costs one check per distinct first character, and the regex engine can
still skip positions whose character starts no phrase at all.

Longest first: at each node of the tree the continuations are tried before
"the phrase ends here", and the continuations start with distinct characters, so
the first match found at a position is the longest phrase there ("pleural
effusion" wins over "pleural").

Plain Python, no Django.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

# A Latin letter or digit may not touch another one across a keyword's edge:
# "mass" must not match in "massive", "RUL" not in "RULE". Hangul edges have no
# such check, because Korean attaches particles and builds compounds ("결절이",
# "폐결절"), and an English keyword followed by a Korean particle ("lungs에") is
# still the keyword.
_LATIN_WORD = "0-9a-z_\u00c0-\u024f"
EDGE_BEFORE = f"(?<![{_LATIN_WORD}])"
EDGE_AFTER = f"(?![{_LATIN_WORD}])"
# Any character that may stand before a Latin word: matching it first lets `re`
# skip through words to the next separator at C speed (see assertion.py).
SEPARATOR = f"[^{_LATIN_WORD}]"
# Inside a phrase, any run of whitespace (a line break too) stands for one space.
SPACE = "\\s+"


def fold(text: str) -> str:
    """Lower case without changing the length, so offsets into the folded text are
    offsets into the original (a few characters such as "İ" lengthen when lowered;
    they are left as they are)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def phrase_key(text: str) -> str:
    """The form a keyword is looked up by: folded, whitespace runs as one space."""
    return " ".join(fold(text).split())


@lru_cache(maxsize=4096)
def needs_edge(char: str) -> bool:
    """Whether a keyword edge on this character needs a word-boundary check."""
    if char.isascii():
        return char.isalnum() or char == "_"
    return char.isalpha() and "LATIN" in unicodedata.name(char, "")


class _Node:
    __slots__ = ("children", "ends")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.ends = False


def trie_pattern(phrases: Iterable[str], *, edges: bool = True) -> str:
    """One regex matching any of `phrases` (a space means any whitespace run),
    longest phrase first at a position. With `edges`, a phrase whose first/last
    character is a Latin letter or digit must not continue a Latin word on that
    side. Returns a never-matching pattern for no phrases."""
    branches = trie_branches(phrases, edges=edges)
    return "(?:" + "|".join(branches) + ")" if branches else "(?!x)x"


def trie_branches(phrases: Iterable[str], *, edges: bool = True, lead_edge: bool = True) -> list[str]:
    """The top-level alternatives of trie_pattern, one per first character, each
    starting with a literal. Joined with "|" as the top level of a larger pattern
    they let `re` skip every position whose character starts no alternative (its
    first-character set), which is most of a report. `lead_edge=False` leaves out
    the check before the first character, for callers that match the separator
    in front of the phrase themselves."""
    root = _Node()
    for phrase in {phrase_key(p) for p in phrases if p.strip()}:
        node = root
        for char in phrase:
            node = node.children.setdefault(char, _Node())
        node.ends = True
    return _children(root, first=lead_edge, last_char="", edges=edges)


def _emit(node: _Node, *, first: bool, last_char: str, edges: bool) -> str:
    branches = _children(node, first=first, last_char=last_char, edges=edges)
    if node.ends:
        branches.append(EDGE_AFTER if edges and needs_edge(last_char) else "")
    if len(branches) == 1:
        return branches[0]
    return "(?:" + "|".join(branches) + ")"


def _children(node: _Node, *, first: bool, last_char: str, edges: bool) -> list[str]:
    branches = []
    for char in sorted(node.children):
        child = node.children[char]
        literal = SPACE if char == " " else re.escape(char)
        if first and edges and needs_edge(char):
            # The check comes after the first literal so every branch still starts
            # with a literal, which lets the engine reject it on one comparison.
            literal += f"(?<![{_LATIN_WORD}].)"
        branches.append(literal + _emit(child, first=False, last_char=char, edges=edges))
    return branches


# -- lifting regex values into the shared alternation --------------------------------

_QUANTIFIERS = "?*+{"


def lift_regex(pattern: str) -> list[str] | None:
    """Rewrite a user regex as top-level alternatives that each start with a
    (lower-case) literal, matching case-insensitively what the pattern matches, so
    it can join the shared alternation without costing it its first-character
    skip. Handles the shapes entity values take: an optional leading `\\b`, then a
    literal or a group of plain-literal alternatives (`\\b(?:rt|right)\\.?\\s*upper`).
    None when the pattern has another shape; it is then scanned on its own."""
    boundary = pattern.startswith("\\b")
    body = pattern[2:] if boundary else pattern
    if not body or _has_top_level_bar(body):
        return None
    heads: list[tuple[str, str]] = []  # (plain literal head, rest of the pattern)
    if body.startswith("(?:"):
        close = _group_end(body)
        if close is None or (close + 1 < len(body) and body[close + 1] in _QUANTIFIERS):
            return None
        alternatives = body[3:close].split("|")
        if not all(alt and all(_plain(c) for c in alt) for alt in alternatives):
            return None
        heads = [(alt, body[close + 1 :]) for alt in alternatives]
    elif _plain(body[0]) and not (len(body) > 1 and body[1] in _QUANTIFIERS):
        heads = [(body[0], body[1:])]
    else:
        return None
    out = []
    for head, rest in heads:
        first, tail = fold(head[0]), head[1:] + rest
        guard = "(?<!\\w.)" if boundary else ""  # `\b` before a word character
        out.append(re.escape(first) + guard + (f"(?i:{tail})" if tail else ""))
    try:
        re.compile("|".join(out))
    except re.error:
        return None
    return out


def _plain(char: str) -> bool:
    """A character that stands for itself in a regex and is a word character."""
    return (char.isalnum() and char.isascii()) or (char.isalpha() and not char.isascii())


def _has_top_level_bar(pattern: str) -> bool:
    depth, i, in_class = 0, 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "^":
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                i += 1  # a "]" right after "[" or "[^" is a literal
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
        i += 1
    return False


def _group_end(pattern: str) -> int | None:
    """Index of the ")" closing the group that opens pattern[0], or None."""
    depth, i = 0, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            return None  # classes inside the leading group: not a shape we lift
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None
