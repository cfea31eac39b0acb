"""Slot values for chest CT templates: the finding span and its agreement words,
the location list ("the RUL and LLL"), sizes."""

from __future__ import annotations

import random

from . import chest_templates as T
from .chest_lexicon import LESIONS, LOCATIONS
from .text import Span, article, cap, cap_span, has_batchim

_AGREEMENT = {
    False: {"be": "is", "It": "It", "has": "has", "inv": "involves"},
    True: {"be": "are", "It": "They", "has": "have", "inv": "involve"},
}


def finding_values(
    rng: random.Random, sp: Span, cls: str, *, prior: bool, slots: frozenset[str]
) -> dict[str, object]:
    """The finding's slots (F, Fc, aF, aFc, agreement words, remark...), only those `slots` needs."""
    values: dict[str, object] = {"F": sp, **_AGREEMENT[cls == "p"]}
    if "Fc" in slots:
        values["Fc"] = cap_span(sp)
    if "aF" in slots:
        values["aF"] = [article(sp[1]) + " ", sp] if cls == "c" else sp
    if "aFc" in slots:
        values["aFc"] = [cap(article(sp[1])) + " ", sp] if cls == "c" else cap_span(sp)
    if "R" in slots:
        values["R"] = "" if sp[3] else rng.choice(T.REMARKS if prior else T.REMARKS_FIRST)
    if "SE" in slots:
        values["SE"] = rng.choice(T.SERIES).replace("{}", str(12 + int(rng.random() * 229)))
    if "Chg" in slots:
        values["Chg"] = rng.choice(T.CHANGES)
    if "Top" in slots:
        values["Top"] = "은" if has_batchim(sp[1]) else "는"
    return values


def location_values(
    rng: random.Random, locations: tuple[str, ...], *, ko: bool, slots: frozenset[str]
) -> dict[str, object]:
    """The location slots `slots` needs: L ("the RUL and LLL"), Lb (bare), Lc (capitalised), lbe, shows."""
    if not locations:
        return {}
    spans: list[Span] = []
    the = False
    for key in locations:
        seen, unseen, korean = LOCATIONS[key]
        if ko:
            text = rng.choice(korean)
            takes_the = False
        else:
            text, takes_the = rng.choice(unseen if rng.random() < 0.12 else seen)
        if not spans:
            the = takes_the and rng.random() < 0.65
        spans.append((key, text, False, False, "t"))
    joined: list[object] = [spans[0]]
    last = len(spans) - 1
    for i in range(1, len(spans)):
        if ko:
            joined.append(rng.choice((" 및 ", ", ")))
        else:
            joined.append(rng.choice((" and ", " and ", ", ", " & ")) if i == last else ", ")
        joined.append(spans[i])
    many = last > 0
    values: dict[str, object] = {
        "Lb": joined,
        "lbe": "are" if many else "is",
        "shows": "show" if many else "shows",
    }
    if "L" in slots:
        values["L"] = ["the ", *joined] if the else joined
    if "Lc" in slots:
        values["Lc"] = [cap_span(spans[0]), *joined[1:]]
    return values


def size_values(rng: random.Random, key: str) -> dict[str, object]:
    if key == "nodule":
        mm = rng.randint(3, 30)
        prev = max(2, mm - rng.randint(1, 4))
        size = rng.choice((f"{mm} mm", f"{mm} mm", f"{mm / 10:.1f} cm", f"{mm}-mm"))
        size0 = f"{prev} mm"
    else:
        cm = rng.randint(31, 95) / 10
        size = rng.choice((f"{cm:.1f} cm", f"{cm:.1f} x {cm * 0.7:.1f} cm"))
        size0 = f"{cm - 0.6:.1f} cm"
    return {
        "Sz": size,
        "aSz": cap(article(size)) + " " + size,
        "aszl": article(size) + " " + size,
        "Sz0": size0,
        "Adj": rng.choice(LESIONS[key].adjectives),
    }
