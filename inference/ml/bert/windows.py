"""Reading a long report whole: sentence-aligned windows with overlap.

    windows = report_windows(tokenizer, texts, window_tokens=128, overlap_tokens=32)
    windows[i]  # the windows of texts[i], in order; each has ids ([CLS] ... [SEP]) and a span

A report is cut into sentences (the rule engine's segmenter, no section rules), each
sentence tokenized on its own (normalized first, as every model input), and sentences
are packed greedily into windows of at most `window_tokens` tokens. The next window
starts with the last sentences of the previous one, up to `overlap_tokens` of them, so
a sentence near a window's edge is also read with its neighbours. A sentence is never
cut between two windows unless it alone is longer than a window; such a sentence is
split into token chunks that overlap by `overlap_tokens`.

Every sentence of a report lands in at least one window: nothing is truncated, and
the classifier's report-level answer pools over all of them (max over windows). The
character spans let training map the rule engine's mentions into the windows that
read them (window-level targets, recipe.py). Plain Python, no Django.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from inference.ml.preprocess import normalize
from inference.ml.text.segment import Segmenter

from .data import CHARS_PER_TOKEN_CAP, _special_id

DEFAULT_WINDOW_TOKENS = 128
DEFAULT_OVERLAP_TOKENS = 32
# A report of this many characters or more is read only up to here (a 10 MB paste must not
# make a thousand windows); ~60 windows of real text.
MAX_REPORT_CHARS = 30_000

_SEGMENTER = Segmenter()


@dataclass(frozen=True, slots=True)
class Window:
    """One model input: token ids with [CLS]/[SEP], the character span of the original
    text it reads ([start, end)), and the sentence spans it holds."""

    ids: list[int]
    start: int
    end: int
    sentences: tuple[tuple[int, int], ...]

    def holds(self, offset: int) -> bool:
        """Whether the character at `offset` lies in one of this window's sentences."""
        return any(s <= offset < e for s, e in self.sentences)


@dataclass(frozen=True, slots=True)
class _Piece:
    ids: list[int]
    span: tuple[int, int]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The sentences of `text` as character spans; the whole text when the segmenter
    finds none but the text has a letter or digit."""
    spans = [(s.start, s.end) for s in _SEGMENTER.sentences(text)]
    if not spans and any(c.isalnum() for c in text):
        spans = [(0, len(text))]
    return spans


def report_windows(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    window_tokens: int = DEFAULT_WINDOW_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
) -> list[list[Window]]:
    """The windows of every text (an empty list for a text with nothing to read)."""
    room, overlap = _room(window_tokens, overlap_tokens)
    cls_id, sep_id = _special_id(tokenizer, "cls"), _special_id(tokenizer, "sep")
    return [
        [Window([cls_id, *w.ids, sep_id], *w.span_range, w.spans) for w in _pack(pieces, room, overlap)]
        for pieces in _pieces(tokenizer, texts, room, overlap)
    ]


def sentence_windows(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    window_tokens: int = DEFAULT_WINDOW_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
) -> list[list[Window]]:
    """One window per sentence (or per chunk of a sentence longer than a window), for
    training on recombined sentences (recipe.py)."""
    room, overlap = _room(window_tokens, overlap_tokens)
    cls_id, sep_id = _special_id(tokenizer, "cls"), _special_id(tokenizer, "sep")
    return [
        [Window([cls_id, *p.ids, sep_id], p.span[0], p.span[1], (p.span,)) for p in pieces]
        for pieces in _pieces(tokenizer, texts, room, overlap)
    ]


def _room(window_tokens: int, overlap_tokens: int) -> tuple[int, int]:
    room = window_tokens - 2
    if room < 4:
        raise ValueError("window_tokens must be at least 6")
    return room, max(0, min(overlap_tokens, room // 2))


def _pieces(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], room: int, overlap: int
) -> list[list[_Piece]]:
    spans = [sentence_spans(text[:MAX_REPORT_CHARS]) for text in texts]
    flat = [
        normalize(text[s:e]).text[: room * CHARS_PER_TOKEN_CAP]
        for text, per in zip(texts, spans, strict=True)
        for s, e in per
    ]
    encoded: list[list[int]] = tokenizer(flat, add_special_tokens=False)["input_ids"] if flat else []
    out: list[list[_Piece]] = []
    cursor = 0
    for per in spans:
        pieces: list[_Piece] = []
        for span in per:
            ids = encoded[cursor]
            cursor += 1
            if ids:
                pieces.extend(_Piece(chunk, span) for chunk in _chunks(ids, room, overlap))
        out.append(pieces)
    return out


@dataclass(slots=True)
class _Packed:
    ids: list[int]
    spans: tuple[tuple[int, int], ...]

    @property
    def span_range(self) -> tuple[int, int]:
        return self.spans[0][0], self.spans[-1][1]


def _chunks(ids: list[int], room: int, overlap: int) -> list[list[int]]:
    if len(ids) <= room:
        return [ids]
    stride = max(1, room - overlap)
    starts = list(range(0, len(ids) - overlap, stride)) or [0]
    return [ids[s : s + room] for s in starts if s < len(ids)]


def _pack(pieces: list[_Piece], room: int, overlap: int) -> list[_Packed]:
    out: list[_Packed] = []
    i, n = 0, len(pieces)
    while i < n:
        j, used = i, 0
        while j < n and used + len(pieces[j].ids) <= room:
            used += len(pieces[j].ids)
            j += 1
        j = max(j, i + 1)  # a piece is at most `room` long, so one always fits
        chosen = pieces[i:j]
        spans = tuple(dict.fromkeys(p.span for p in chosen))
        out.append(_Packed([t for p in chosen for t in p.ids], spans))
        if j >= n:
            break
        # Back up over trailing pieces totalling at most `overlap` tokens.
        k, back = j, 0
        while k - 1 > i and back + len(pieces[k - 1].ids) <= overlap:
            k -= 1
            back += len(pieces[k].ids)
        i = k
    return out
