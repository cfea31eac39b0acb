"""The demo corpus: seeded, deterministic chest CT and brain MRI reports with gold labels.

    for rec in generate_reports(n=500, seed=7): ...
    write_jsonl(path, n=100_000, seed=7)

One seeded random stream (text.FastRandom) drives everything, so the same
(n, seed, modalities) gives byte-identical output. Reports come patient by patient, each patient's
studies in date order; about 60% chest CT (1-3 studies per patient) and 40%
brain MRI (3-6 studies per patient; fewer only when fewer than 3 brain reports
are asked for). About 20% of reports mix Korean in. Records follow the gold-file
format (docs/gold-files.md) plus "mentions" (offsets into "text"), "pairs" (finding mention ->
location / episode mentions) and "meta"; gold.py states how "gold" is derived.
This is data for demos and tests, not a benchmark to tune models against.

Decisions a reader of the gold needs:

* Pleural effusion / thickening: never paired, gold "locations" always [] (their
  pleura is implicit, docs/schema.md); a side ("Lt.") is not labelled.
* Location and episode spans are labelled only as the target of a pair; a lobe
  named in the history ("s/p RUL lobectomy") or a filler is left unlabelled.
* Brain MRI: the first study of a series pairs its malignant diagnosis with an
  episode relative to an outside study or to a first appearance (brain.py).
* "meta": korean (Hangul present), no_findings (no key present or uncertain),
  cross_sentence_location (a lesion->location or diagnosis->episode pair whose
  spans lie in different sentences), study_index / series_length in the patient's series.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

from .brain import BrainWriter
from .chest import ChestWriter
from .fillers import CHEST_HISTORY
from .gold import brain_gold, chest_gold, has_findings
from .text import Doc, FastRandom, is_hangul

MODALITIES = ("chest_ct", "brain_mri")
CHEST_SHARE = 0.6
KOREAN_SHARE = 0.2
FIRST_DAY = date(2015, 1, 1).toordinal()
LAST_DAY = date(2024, 12, 31).toordinal()
ID_PREFIX = {"chest_ct": "ct", "brain_mri": "mr"}


def generate_reports(
    n: int = 500, seed: int = 7, modalities: Iterable[str] = MODALITIES
) -> Iterator[dict[str, Any]]:
    """Yield `n` gold records (dicts), streaming."""
    wanted = tuple(dict.fromkeys(modalities))
    unknown = [m for m in wanted if m not in MODALITIES]
    if unknown or not wanted:
        raise ValueError(f"modalities must be among {MODALITIES}, got {list(modalities)}")
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = FastRandom(seed)
    targets = _targets(n, wanted)
    done = dict.fromkeys(targets, 0)
    chest, brain = ChestWriter(rng), BrainWriter(rng)
    patient = rng.randint(1000, 9999)
    while sum(done.values()) < n:
        modality = min((m for m in targets if done[m] < targets[m]), key=lambda m: done[m] / targets[m])
        left = targets[modality] - done[modality]
        patient += rng.randint(1, 9)
        if modality == "chest_ct":
            size = min(left, rng.choices((1, 2, 3), cum_weights=(60, 88, 100))[0])
            dates = _dates(rng, size, 30, 540)
            history = rng.choice(CHEST_HISTORY) if rng.random() < 0.4 else None
            docs = [
                chest.write(
                    korean=rng.random() < KOREAN_SHARE,
                    prior=_day(dates[i - 1]) if i else None,
                    history=history,
                )
                for i in range(size)
            ]
        else:
            size = _brain_series_size(rng, left)
            dates = _dates(rng, size, 42, 270)
            korean = [rng.random() < KOREAN_SHARE for _ in range(size)]
            docs = brain.series(dates=[_day(d) for d in dates], korean=korean)
        for i, (doc, when) in enumerate(zip(docs, dates, strict=True)):
            done[modality] += 1
            yield _record(
                doc, modality, f"{ID_PREFIX[modality]}-{done[modality]:06d}", patient, when, i, size
            )


def write_jsonl(path: Path | str, n: int = 500, seed: int = 7, modalities: Iterable[str] = MODALITIES) -> int:
    """Write the corpus as UTF-8 JSON lines; returns the number of reports written."""
    encode = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode  # records are trees
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="\n") as fh:
        for rec in generate_reports(n=n, seed=seed, modalities=modalities):
            fh.write(encode(rec))
            fh.write("\n")
            count += 1
    return count


def _record(
    doc: Doc, modality: str, rid: str, patient: int, when: str, index: int, size: int
) -> dict[str, Any]:
    text = doc.text()
    mentions = doc.mentions
    pairs = doc.pairs
    gold = chest_gold(mentions, pairs) if modality == "chest_ct" else brain_gold(mentions, pairs)
    cross = any(mentions[s][6] != mentions[t][6] for s, ts in pairs.items() for t in ts)
    return {
        "id": rid,
        "modality": modality,
        "patient_id": f"P{patient:06d}",
        "study_datetime": when,
        "text": text,
        "gold": gold,
        "mentions": [
            {"key": m[0], "start": m[1], "end": m[2], "text": m[3], "negated": m[4], "uncertain": m[5]}
            for m in mentions
        ],
        "pairs": [{"source": s, "targets": pairs[s]} for s in sorted(pairs)],
        "meta": {
            "korean": is_hangul(text),
            "no_findings": not has_findings(gold),
            "cross_sentence_location": cross,
            "study_index": index,
            "series_length": size,
        },
    }


def _targets(n: int, modalities: tuple[str, ...]) -> dict[str, int]:
    if len(modalities) == 1:
        return {modalities[0]: n} if n else {}
    chest = round(n * CHEST_SHARE)
    return {m: c for m, c in (("chest_ct", chest), ("brain_mri", n - chest)) if c}


def _brain_series_size(rng: random.Random, left: int) -> int:
    """3-6 studies, never leaving 1 or 2 brain reports over for a last, too short series."""
    if left <= 6:
        return left
    top = min(6, left - 3)
    return rng.choices(range(3, top + 1), weights=(35, 30, 20, 15)[: top - 2])[0]


def _dates(rng: random.Random, size: int, min_gap: int, max_gap: int) -> list[str]:
    gaps = [rng.randint(min_gap, max_gap) for _ in range(size - 1)]
    day = FIRST_DAY + rng.randint(0, LAST_DAY - FIRST_DAY - sum(gaps))
    out = []
    for i in range(size):
        if i:
            day += gaps[i - 1]
        d = date.fromordinal(day)
        out.append(f"{d.isoformat()}T{rng.randint(7, 20):02d}:{rng.choice(range(0, 60)):02d}:00")
    return out


def _day(when: str) -> str:
    return when[:10]
