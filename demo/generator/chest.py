"""One chest CT report: choose findings, then write findings and impression sections.

Every present lesion gets a sentence (with its locations in the same sentence,
or, in about one finding out of five, in the next sentence); some lesions are
hedged, some keys are negated ("No pleural effusion."), and about one report in
seven has no findings at all. Korean-mixed reports render part of their
sentences with the Korean templates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from inference.ml.defaults import default_ruleset

from . import chest_templates as T
from . import fillers as X
from .chest_lexicon import LESIONS
from .chest_slots import finding_values, location_values, size_values
from .text import Doc, FastRandom, Span, Template, compile_all, is_hangul, render, span

LESION_WEIGHTS = (
    ("nodule", 24),
    ("consolidation", 14),
    ("ground-glass opacity", 11),
    ("atelectasis", 10),
    ("bronchiectasis", 7),
    ("fibrosis", 9),
    ("pleural effusion", 9),
    ("mass", 5),
    ("bronchial wall thickening", 5),
    ("interstitial thickening", 5),
    ("pleural thickening", 4),
)
NEGATION_WEIGHTS = (
    ("pleural effusion", 30),
    ("consolidation", 8),
    ("nodule", 6),
    ("mass", 3),
    ("ground-glass opacity", 4),
    ("atelectasis", 3),
    ("bronchiectasis", 2),
    ("interstitial thickening", 2),
    ("pleural thickening", 3),
    ("fibrosis", 2),
)
_TREE = default_ruleset().location_tree  # LABELLING.md section 4, as every mode applies it
WHOLE_LUNG = frozenset({"right lung", "left lung", "both lungs"})
_COMPARE = compile_all(X.COMPARE_SENTENCES)
_COMPARE_KO = compile_all(X.COMPARE_SENTENCES_KO)


class Finding(NamedTuple):
    key: str
    status: str  # present | uncertain
    locations: tuple[str, ...]


class ChestWriter:
    """Writes chest CT reports with one shared random stream."""

    def __init__(self, rng: FastRandom) -> None:
        self.rng = rng
        self._lesion_keys = [k for k, _ in LESION_WEIGHTS]
        self._lesion_cum = _cumulative(LESION_WEIGHTS)
        self._neg_keys = [k for k, _ in NEGATION_WEIGHTS]
        self._neg_cum = _cumulative(NEGATION_WEIGHTS)

    # -- planning ---------------------------------------------------------------
    def plan(self) -> tuple[list[Finding], list[str]]:
        rng = self.rng
        if rng.random() < 0.15:
            return [], self._negatives(set(), rng.choice((0, 1, 1, 2, 2, 3)))
        n = rng.weighted((1, 2, 3, 4), (35, 70, 90, 100))
        keys: list[str] = []
        while len(keys) < n:
            key = rng.weighted(self._lesion_keys, self._lesion_cum)
            if key not in keys:
                keys.append(key)
        findings = []
        for key in keys:
            status = "uncertain" if rng.random() < 0.12 else "present"
            findings.append(Finding(key, status, self._locations(key, status)))
        return findings, self._negatives(set(keys), rng.choice((0, 1, 1, 2, 2, 3)))

    def _locations(self, key: str, status: str) -> tuple[str, ...]:
        lesion = LESIONS[key]
        rng = self.rng
        if not lesion.paired or (status == "present" and rng.random() < 0.08):
            return ()
        n = rng.weighted((1, 2, 3), (62, 90, 100))
        out: list[str] = []
        for _ in range(8):
            loc = rng.choice(lesion.locations)
            # At most one whole-lung key ("both lungs and left lung" is not how reports read),
            # and gold as the one normalisation leaves it (no lung beside a lobe of its side).
            if loc in out or (loc in WHOLE_LUNG and any(o in WHOLE_LUNG for o in out)):
                continue
            if _TREE.normalise([*out, loc]) == [*out, loc]:
                out.append(loc)
            if len(out) == n:
                break
        return tuple(out)

    def _negatives(self, taken: set[str], n: int) -> list[str]:
        out: list[str] = []
        for _ in range(n * 3):
            key = self.rng.weighted(self._neg_keys, self._neg_cum)
            if key not in taken and key not in out:
                out.append(key)
            if len(out) == n:
                break
        return out

    # -- writing ----------------------------------------------------------------
    def write(self, *, korean: bool, prior: str | None, history: str | None) -> Doc:
        rng = self.rng
        findings, negatives = self.plan()
        doc = Doc()
        self.ko = korean
        self.prior = prior is not None
        sep = rng.choice(("\n", "\n", " ", "\n- "))
        self._header(doc, prior, history)
        doc.write(rng.choice(X.FINDINGS_HEADERS))
        if sep == " " and rng.random() < 0.5:
            doc.write(" ")  # "FINDINGS: text" on one line: still one sentence
        else:
            doc.next_sentence("\n")
        if sep == "\n- ":
            doc.write("- ")
        first = True
        if prior and rng.random() < 0.35:
            self._sentence(doc, sep, first)
            first = False
            p = {"P": prior}
            render(doc, rng.choice(_COMPARE_KO) if self._ko(0.4) else rng.choice(_COMPARE), p)
        if not findings:
            self._sentence(doc, sep, first)
            first = False
            doc.write(rng.choice(X.CHEST_NO_FINDING_SENTENCES))
        for f in findings:
            self._sentence(doc, sep, first)
            first = False
            self._finding(doc, f)
        resolved = prior is not None and rng.random() < 0.3
        for i, key in enumerate(negatives):
            self._sentence(doc, sep, first)
            first = False
            self._negated(doc, key, resolved=resolved and i == 0)
        if (
            self.prior
            and rng.random() < 0.3
            and any(f.key == "nodule" and f.status == "present" for f in findings)
        ):
            self._sentence(doc, sep, first)
            render(doc, T.NO_NEW, {"F": span("nodule", rng.choice(("nodule", "pulmonary nodule")), True)})
        for filler in rng.sample(X.CHEST_FILLERS, rng.choice((0, 1, 1, 2, 2, 3))):
            self._sentence(doc, sep, first)
            first = False
            doc.write(rng.choice(X.CHEST_FILLERS_KO) if self._ko(0.3) else filler)
        if korean and not is_hangul(doc.text()):
            self._sentence(doc, sep, first)
            doc.write(rng.choice(X.CHEST_FILLERS_KO))
        self._impression(doc, findings)
        return doc

    def _ko(self, p: float) -> bool:
        return self.ko and self.rng.random() < p

    def _sentence(self, doc: Doc, sep: str, first: bool) -> None:
        if not first:
            doc.next_sentence(sep)

    def _header(self, doc: Doc, prior: str | None, history: str | None) -> None:
        rng = self.rng
        lines: list[str] = []
        if history and rng.random() < 0.6:
            lines.append("CLINICAL INFORMATION: " + history)
        elif self._ko(0.15):
            lines.append("CLINICAL INFORMATION: " + rng.choice(X.CHEST_HISTORY_KO))
        if rng.random() < 0.35:
            lines.append(rng.choice(X.CHEST_TECHNIQUE))
        if prior and rng.random() < 0.5:
            lines.append(rng.choice(X.COMPARE_HEADERS).format(P=prior))
        elif not prior and rng.random() < 0.2:
            lines.append(rng.choice(X.NO_COMPARE_HEADERS))
        for line in lines:
            doc.write(line)
            doc.next_sentence("\n")
        if lines and rng.random() < 0.5:
            doc.next_sentence("\n")

    def _finding(self, doc: Doc, f: Finding) -> None:
        rng = self.rng
        lesion = LESIONS[f.key]
        ko = self._ko(0.5)
        if not lesion.paired:
            self._unpaired(doc, f, ko)
            return
        if f.status == "uncertain":
            if ko and f.locations:
                tpl = rng.choice(T.KO_UNCERTAIN)
            else:
                group = T.UNCERTAIN_LOC if f.locations else T.UNCERTAIN_NOLOC
                tpl, _ = self._pick_template(group, f.key, ko=False, many=len(f.locations) > 1)
            self._render_finding(doc, tpl, f, ko, uncertain=True)
            return
        if not f.locations:
            tpl, _ = self._pick_template(T.PRESENT_NOLOC, f.key, ko=False)
            self._render_finding(doc, tpl, f, False)
            return
        cross = rng.random() < 0.22
        sized = bool(lesion.adjectives) and len(f.locations) == 1 and rng.random() < 0.5
        if ko:
            present = T.KO_PRESENT if self.prior else T.KO_PRESENT_FIRST
            tpl = rng.choice(T.KO_CROSS) if cross else T.KO_SIZED if sized else rng.choice(present)
            self._render_finding(doc, tpl, f, True, sized=sized and not cross)
            return
        if sized:
            group = T.SIZED_CROSS if cross else T.SIZED_LOC
        elif cross:
            group = T.CROSS_LOC
        elif f.key == "consolidation" and rng.random() < 0.3:
            group = T.CONSOLIDATION_LOC
        else:
            group = T.PRESENT_LOC
        tpl, _ = self._pick_template(group, f.key, ko=False, countable=sized, many=len(f.locations) > 1)
        self._render_finding(doc, tpl, f, False, sized=sized)

    def _pick_template(
        self, group: T.ByClass, key: str, *, ko: bool, countable: bool = False, many: bool = False
    ) -> tuple[Template, tuple[str, str]]:
        self._surface = self._lesion_surface(key, ko, countable, many)
        cls = self._surface[1]
        templates = group[cls if self.prior else cls + "0"] or group[cls]
        return self.rng.choice(templates), self._surface

    def _lesion_surface(
        self, key: str, ko: bool, countable: bool = False, many: bool = False
    ) -> tuple[str, str]:
        """A surface of `key`: Korean, unseen (15%) or seen; countable singular or, for
        several locations, preferably not singular ("nodules in the RUL and LLL")."""
        rng = self.rng
        lesion = LESIONS[key]
        if ko and rng.random() < 0.7:
            return rng.choice(lesion.korean), "m"
        pool = lesion.unseen if rng.random() < 0.15 else lesion.seen
        for _ in range(10):
            text, cls = rng.choice(pool)
            if (cls == "c") if countable else not (many and cls == "c"):
                return text, cls
        for text, cls in lesion.seen:
            if (cls == "c") if countable else cls != "c":
                return text, cls
        return lesion.seen[0]

    def _render_finding(
        self, doc: Doc, tpl: Template, f: Finding, ko: bool, *, uncertain: bool = False, sized: bool = False
    ) -> None:
        if ko:
            self._surface = self._lesion_surface(f.key, True, countable=sized)
        text, cls = self._surface
        values = self._finding_values(span(f.key, text, False, uncertain, "f"), cls, tpl.slots)
        if f.locations:
            values.update(self._location_values(f.locations, ko, tpl.slots))
        if sized:
            values.update(self._size_values(f.key))
        render(doc, tpl, values)

    def _finding_values(self, sp: Span, cls: str, slots: frozenset[str]) -> dict[str, object]:
        return finding_values(self.rng, sp, cls, prior=self.prior, slots=slots)

    def _location_values(
        self, locations: tuple[str, ...], ko: bool, slots: frozenset[str]
    ) -> dict[str, object]:
        return location_values(self.rng, locations, ko=ko, slots=slots)

    def _size_values(self, key: str) -> dict[str, object]:
        return size_values(self.rng, key)

    def _unpaired(self, doc: Doc, f: Finding, ko: bool) -> None:
        rng = self.rng
        effusion = f.key == "pleural effusion"
        if f.status == "uncertain":
            tpl, surface = self._pick_template(T.UNCERTAIN_NOLOC, f.key, ko=False)
        elif ko:
            tpl = rng.choice(T.KO_UNPAIRED if self.prior else T.KO_UNPAIRED_FIRST)
            surface = self._lesion_surface(f.key, True)
        else:
            tpl, surface = self._pick_template(T.UNPAIRED if effusion else T.THICKENING, f.key, ko=False)
        sp = span(f.key, surface[0], False, f.status == "uncertain")
        values = self._finding_values(sp, surface[1], tpl.slots)
        amounts = (T.AMOUNTS, T.AMOUNTS_A) if effusion else (T.THICKENING_AMOUNTS, T.THICKENING_AMOUNTS_A)
        for slot, pool in (
            ("Side", T.SIDES),
            ("side", T.SIDE_WORDS),
            ("SideKo", T.SIDES_KO),
            ("Amt", amounts[0]),
            ("AmtA", amounts[1]),
        ):
            if slot in tpl.slots:
                values[slot] = rng.choice(pool)
        render(doc, tpl, values)

    def _negated(self, doc: Doc, key: str, *, resolved: bool) -> None:
        rng = self.rng
        lesion = LESIONS[key]
        ko = self._ko(0.5)
        text, cls = self._lesion_surface(key, ko)
        locations: tuple[str, ...] = ()
        if resolved and lesion.paired:
            locations = self._locations(key, "negated")
            tpl = T.KO_RESOLVED if ko else rng.choice(T.RESOLVED_LOC[cls])
        elif resolved:
            tpl = rng.choice(T.RESOLVED_NOLOC[cls])
        elif ko:
            tpl = T.KO_NEGATED_TOPIC if is_hangul(text) and rng.random() < 0.3 else rng.choice(T.KO_NEGATED)
        elif key == "pleural effusion" and rng.random() < 0.25:
            text, cls = "pleural effusion", "m"
            tpl = rng.choice(T.NEGATED_EFFUSION["m"])
        else:
            tpl = rng.choice(T.NEGATED[cls])
        sp = span(key, text, True, False, "f" if lesion.paired else "")
        values = self._finding_values(sp, cls, tpl.slots)
        if locations:
            values.update(self._location_values(locations, ko, tpl.slots))
        render(doc, tpl, values)

    def _impression(self, doc: Doc, findings: list[Finding]) -> None:
        rng = self.rng
        doc.next_sentence("\n\n")
        doc.write(rng.choice(X.IMPRESSION_HEADERS))
        numbered = rng.random() < 0.6
        doc.next_sentence("\n")
        items = [f for f in findings if f.status == "uncertain" or rng.random() < 0.75]
        if not items:
            if findings:
                items = findings[:1]
            else:
                ko = self._ko(0.4)
                doc.write("1. " if numbered else "")
                pool = X.CHEST_NO_FINDING_IMPRESSIONS_KO if ko else X.CHEST_NO_FINDING_IMPRESSIONS
                doc.write(rng.choice(pool))
                return
        for i, f in enumerate(items, start=1):
            if i > 1:
                doc.next_sentence("\n" if numbered or rng.random() < 0.5 else " ")
            if numbered:
                doc.write(f"{i}. ")
            self._impression_item(doc, f)
        tail = rng.choice(X.CHEST_OTHERWISE if self.prior else X.CHEST_OTHERWISE_FIRST)
        if tail:
            doc.next_sentence("\n" if numbered else " ")
            doc.write(f"{len(items) + 1}. {tail}" if numbered else tail)

    def _impression_item(self, doc: Doc, f: Finding) -> None:
        rng = self.rng
        if f.status == "uncertain" or not LESIONS[f.key].paired:
            self._finding(doc, f)
            return
        ko = self._ko(0.4) and bool(f.locations)
        if ko:
            tpl = rng.choice(T.KO_IMPRESSION)
        else:
            group = T.IMPRESSION_ITEM if f.locations else T.IMPRESSION_NOLOC
            tpl, _ = self._pick_template(group, f.key, ko=False, many=len(f.locations) > 1)
        interp: tuple[Sequence[str], Sequence[str]]
        if self.prior:
            interp = (T.INTERPRETATIONS_BY_KEY.get(f.key, T.INTERPRETATIONS), T.INTERPRETATIONS_KO)
        else:
            interp = (
                T.INTERPRETATIONS_BY_KEY_FIRST.get(f.key, T.INTERPRETATIONS_FIRST),
                T.INTERPRETATIONS_KO_FIRST,
            )
        values: dict[str, object] = {"Interp": rng.choice(interp[0]), "InterpKo": ""}
        if ko:
            values["InterpKo"] = rng.choice(interp[1])
            self._surface = self._lesion_surface(f.key, True)
        text, cls = self._surface
        values.update(self._finding_values(span(f.key, text, False, False, "f"), cls, tpl.slots))
        values.update(self._location_values(f.locations, ko, tpl.slots))
        render(doc, tpl, values)


def _cumulative(weights: tuple[tuple[str, int], ...]) -> list[int]:
    total, out = 0, []
    for _, w in weights:
        total += w
        out.append(total)
    return out
