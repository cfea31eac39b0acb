"""Byte-level BPE tokenizer trained on the corpus, optionally morpheme-aware for Korean.

    tok = train_tokenizer(texts, vocab_size=8000, morphemes=True)
    save_tokenizer(tok, path); tok = load_tokenizer(path)

Byte-level BPE never produces [UNK] (every byte is in the base alphabet), which is why
the method uses it for mixed Korean/English reports. With `morphemes=True`, runs of
Hangul are first split at morpheme boundaries found by Kiwi (kiwipiepy), as Park et al.
do before BPE, so merges do not cross a stem and its particle ("삼출" | "이").

Round trip: the tokenizer applies no normalization of its own, and the morpheme split
only cuts the string (it never inserts, drops or rewrites a character; contracted
morphemes such as 했 = 하+었 stay one piece). Hence, for any string `x` that does not
contain a special-token literal such as "[CLS]",

    tok.decode(tok.encode(x, add_special_tokens=False)) == x

exactly, with or without morphemes. Model input is always `preprocess.normalize(text).text`,
which turns "[" and "]" into spaces, so it can never contain a special-token literal;
normalization itself is the only lossy step, and it is documented in preprocess.py.

The saved directory loads with `PreTrainedTokenizerFast.from_pretrained(path)`; a Python
pre-tokenizer cannot be serialized into tokenizer.json, so the morpheme step is recorded
in PRETOKENIZATION_FILE and re-attached by `load_tokenizer`. Always load with it.
kiwipiepy is imported only when morphemes are used.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tokenizers import (
    NormalizedString,
    PreTokenizedString,
    Tokenizer,
    decoders,
    models,
    pre_tokenizers,
    processors,
    trainers,
)
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from inference.ml.text.korean import HANGUL as _HANGUL
from inference.ml.text.korean import kiwi as _kiwi

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = (PAD, UNK, CLS, SEP, MASK)
PRETOKENIZATION_FILE = "radreview_pretokenization.json"
_MORPHEME_ATTR = "radreview_morphemes"


def train_tokenizer(
    texts: Iterable[str], *, vocab_size: int = 8000, min_frequency: int = 2, morphemes: bool = False
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on `texts` (already normalized model input)."""
    backend = Tokenizer(models.BPE())
    _set_pre_tokenizer(backend, morphemes=morphemes)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)
    backend.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}",
        pair=f"{CLS} $A {SEP} $B:1 {SEP}:1",
        special_tokens=[(CLS, backend.token_to_id(CLS)), (SEP, backend.token_to_id(SEP))],
    )
    # The wrapper deep-copies the backend, which a Python pre-tokenizer forbids: wrap the
    # plain chain, then attach the morpheme splitter to the copy.
    _set_pre_tokenizer(backend, morphemes=False)
    return _wrap(backend, morphemes=morphemes)


def save_tokenizer(tokenizer: PreTrainedTokenizerBase, directory: Path) -> None:
    """Save as a PreTrainedTokenizerFast directory plus the pre-tokenization record."""
    directory.mkdir(parents=True, exist_ok=True)
    morphemes = uses_morphemes(tokenizer)
    backend = tokenizer.backend_tokenizer if morphemes else None
    if backend is not None:
        # The Python morpheme splitter cannot be serialized: save the plain chain.
        _set_pre_tokenizer(backend, morphemes=False)
    try:
        tokenizer.save_pretrained(str(directory))
    finally:
        if backend is not None:
            _set_pre_tokenizer(backend, morphemes=True)
    # Kiwi's segmentation can change between releases: record the version that was used.
    analyzer = f"kiwipiepy {importlib.metadata.version('kiwipiepy')}" if morphemes else None
    record = {"morphemes": morphemes, "morpheme_analyzer": analyzer}
    (directory / PRETOKENIZATION_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")


def load_tokenizer(directory: Path) -> PreTrainedTokenizerBase:
    """Load a tokenizer saved by `save_tokenizer`, or any local Hugging Face tokenizer
    directory (e.g. a site's clinical BERT checkpoint), applying recorded morpheme mode."""
    record_path = directory / PRETOKENIZATION_FILE
    record: dict[str, Any] = {}
    if record_path.exists():
        record = json.loads(record_path.read_text(encoding="utf-8"))
    tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    if record.get("morphemes"):
        _set_pre_tokenizer(tokenizer.backend_tokenizer, morphemes=True)
        setattr(tokenizer, _MORPHEME_ATTR, True)
    return tokenizer


def uses_morphemes(tokenizer: PreTrainedTokenizerBase) -> bool:
    """True if `tokenizer` splits Hangul at morpheme boundaries before BPE."""
    return bool(getattr(tokenizer, _MORPHEME_ATTR, False))


def morpheme_boundaries(text: str) -> list[int]:
    """Indexes where `text` is cut: morpheme starts that fall between two Hangul
    syllables. Boundaries next to spaces, Latin letters or digits are left to the
    byte-level pre-tokenizer, so English is tokenized exactly as without morphemes."""
    if not _HANGUL.search(text):
        return []
    starts = {token.start for token in _kiwi().tokenize(text)}
    return sorted(
        i for i in starts if 0 < i < len(text) and _HANGUL.match(text[i - 1]) and _HANGUL.match(text[i])
    )


class MorphemeSplitter:
    """A `tokenizers` custom pre-tokenizer that cuts pieces at `morpheme_boundaries`."""

    def split(self, _index: int, piece: NormalizedString) -> list[NormalizedString]:
        cuts = [0, *morpheme_boundaries(str(piece)), len(str(piece))]
        pieces = [piece[a:b] for a, b in itertools.pairwise(cuts) if a < b]
        return [p for p in pieces if p is not None]

    def pre_tokenize(self, pretok: PreTokenizedString) -> None:
        pretok.split(self.split)


def _set_pre_tokenizer(backend: Tokenizer, *, morphemes: bool) -> None:
    # add_prefix_space=False: a leading space would be invented text, breaking the round trip.
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    if morphemes:
        _kiwi()  # fail here, with the install hint, rather than deep inside Rust
        splitter = pre_tokenizers.PreTokenizer.custom(MorphemeSplitter())
        backend.pre_tokenizer = pre_tokenizers.Sequence([splitter, byte_level])
    else:
        backend.pre_tokenizer = byte_level


def _wrap(backend: Tokenizer, *, morphemes: bool) -> PreTrainedTokenizerFast:
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD,
        unk_token=UNK,
        cls_token=CLS,
        sep_token=SEP,
        mask_token=MASK,
        clean_up_tokenization_spaces=False,
    )
    if morphemes:
        _set_pre_tokenizer(tokenizer.backend_tokenizer, morphemes=True)
    setattr(tokenizer, _MORPHEME_ATTR, morphemes)
    return tokenizer
