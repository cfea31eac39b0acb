"""Korean morphology from Kiwi (kiwipiepy): the shared analyser, and where a
word's particle starts.

Korean writes a noun and its particle as one word: 우상엽의 ("of the right upper
lobe") is 우상엽 + 의. A keyword span never includes the particle, so the
annotation workspace trims a selection that ends on one (`particle_spans`); the
morpheme-aware BPE tokenizer (inference.ml.tokenizer) cuts its pieces at the
same analyser's boundaries. Offsets are code points (Python string indexes),
which is what Kiwi reports.

kiwipiepy is imported on first use (~2 s to start), and only for text with Hangul.
Plain Python, no Django.
"""

from __future__ import annotations

import re
import threading
from typing import Any

KIWI_INSTALL_HINT = "pip install kiwipiepy==0.24.1 kiwipiepy_model==0.24.0"
HANGUL = re.compile("[\uac00-\ud7a3]")

# Kiwi's tags for what follows a word's stem and is never part of a keyword:
# particles (JKS, JKG, JX, JC, ...), the copula 이다 (VCP, VCN) and endings (EP, EF, EC, ETM, ...).
_TRAILING = ("J", "VC", "E")
# What a keyword ends in: nouns, roots, noun suffixes (들), Latin, numbers, Hanja.
_NOMINAL = ("N", "XR", "XSN", "SL", "SN", "SH")
# Symbols that are part of a word: Latin letters, numbers, Hanja (RUL에, 5mm의).
_WORDLIKE_SYMBOLS = ("SL", "SN", "SH")

_lock = threading.Lock()
_instance: Any = None


def kiwi() -> Any:
    """The shared Kiwi analyser (~2 s to start, so once per process)."""
    global _instance
    with _lock:
        if _instance is None:
            try:
                from kiwipiepy import Kiwi
            except ImportError as exc:
                raise ImportError(f"Korean morphology needs kiwipiepy: {KIWI_INSTALL_HINT}") from exc
            _instance = Kiwi()
        return _instance


def particle_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) of every trailing particle (with the copula and endings that
    follow it) of a word: 우상엽의 -> the span of 의, 결절입니다 -> 입니다, RUL에 -> 에.
    A word is a run of tokens with nothing between them; punctuation ends it. A word
    that is only a particle, or has none, gives nothing. Empty without Hangul."""
    if not HANGUL.search(text):
        return []
    out: list[tuple[int, int]] = []
    stem = False  # the current word's last non-trailing token is nominal
    tail: int | None = None  # where the current word's trailing run starts
    last = 0  # end of the previous token

    def close() -> None:
        if stem and tail is not None:
            out.append((tail, last))

    for token in kiwi().tokenize(text):
        start, end, tag = token.start, token.start + token.len, token.tag
        if start > last or (tag.startswith("S") and tag not in _WORDLIKE_SYMBOLS):
            close()  # a gap or punctuation: the word ended
            stem, tail = False, None
        if tag.startswith("S") and tag not in _WORDLIKE_SYMBOLS:
            last = end
            continue
        if tag.startswith(_TRAILING):
            # A particle after a noun; an ending fused into the stem (보입니다 = 보이 + ㅂ니다) is not.
            if stem and tail is None and start >= last:
                tail = start
        else:
            # Only a nominal stem sheds its particle: a verb's ending stays (있고, 증가했습니다).
            stem, tail = tag.startswith(_NOMINAL), None
        last = max(last, end)
    close()
    return out
