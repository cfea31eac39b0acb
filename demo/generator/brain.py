"""Brain MRI series: one patient's studies over time, written one report each.

A patient is one of: malignant (glioma, lymphoma or metastasis, 72%), benign
tumor follow-up, non-tumor disease (demyelination, stroke, abscess, small
vessel disease) or screening that stays negative. A malignant diagnosis's
episode in each study is relative to the previous study of the same patient,
drawn from a Markov chain, and the tumor size written in the report follows it
(progression: larger; improvement: smaller; stable: same).

The first study of a series has no prior study in the corpus, yet the method
pairs every malignant diagnosis with an episode. So it is written in one of
two ways: the disease appears for the first time ("Newly developed ...",
episode progression; metastasis patients may first have 1-2 negative staging
studies), or it is known from an outside study that the report compares with
("Known GBM, post-operative state; residual enhancing tumor, stable").
"""

from __future__ import annotations

import random
from typing import NamedTuple

from . import brain_templates as B
from . import fillers as X
from .brain_lexicon import (
    DIAGNOSES,
    EPISODES,
    EXTRA_AXIAL_SITES,
    FAMILIES,
    GLIOMA_FAMILIES,
    MULTI_SITES,
    STROKE_SITES,
    TUMOR_SITES,
)
from .text import Doc, Span, cap_span, is_hangul, render, span

TRANSITIONS = {
    None: (("progression", 40), ("stable", 35), ("improvement", 25)),
    "progression": (("progression", 35), ("stable", 25), ("improvement", 40)),
    "stable": (("stable", 50), ("progression", 30), ("improvement", 20)),
    "improvement": (("improvement", 35), ("stable", 40), ("progression", 25)),
}
NEGATED_SURFACES = {
    "stroke/infarction": (("infarction", "infarct", "ischemic lesion"), ("뇌경색", "경색")),
    "hemorrhage/vascular lesion": (("hemorrhage", "hematoma", "bleeding"), ("출혈", "뇌출혈")),
    "other non-tumor": (("hydrocephalus",), ("수두증",)),
}
NON_TUMOR_PATIENTS = ("demyelinating", "stroke/infarction", "infection/inflammation", "other non-tumor")
INCIDENTAL = ("other non-tumor", "hemorrhage/vascular lesion", "stroke/infarction")
NEW_WORDS = ("newly developed", "newly developed", "new")
NEW_WORDS_KO = ("새로 생긴", "새로운", "newly developed")
SEPARATORS = ("\n", "\n", " ", "\n- ")


class Study(NamedTuple):
    episode: str | None  # None: the malignant disease is absent (negative study) or the patient has none
    new: bool  # first appearance of the disease ("newly developed")
    known_first: bool  # first study, disease known from an outside study
    uncertain: bool
    size: float
    previous: float


class Patient:
    """The plan of one brain MRI series."""

    def __init__(self, rng: random.Random, n: int) -> None:
        roll = rng.random()
        self.kind = (
            "malignant"
            if roll < 0.72
            else "benign"
            if roll < 0.80
            else "non-tumor"
            if roll < 0.90
            else "screening"
        )
        self.dx = rng.choices(("metastasis", "glioma", "lymphoma"), cum_weights=(50, 80, 100))[0]
        multi = self.dx == "metastasis" and rng.random() < 0.5
        self.site = rng.choice(MULTI_SITES if multi else TUMOR_SITES)
        seen, unseen, _ = DIAGNOSES[self.dx]
        if self.dx == "glioma":
            seen = GLIOMA_FAMILIES[rng.random() < 0.3]
        if not multi and self.dx == "metastasis":
            seen = tuple(form for form in seen if form[1] == "c")
        # One patient's reports keep to a few names for the disease, as one department's would.
        self.forms = (
            *rng.sample(seen, min(3, len(seen))),
            *((rng.choice(unseen),) if rng.random() < 0.3 else ()),
        )
        self.benign = rng.choice(EXTRA_AXIAL_SITES) if self.kind == "benign" or rng.random() < 0.15 else None
        self.benign_size = rng.randint(6, 35) / 10
        self._names: dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {}
        self.non_tumor = rng.choice(NON_TUMOR_PATIENTS) if self.kind == "non-tumor" else None
        history = self.dx if self.kind == "malignant" else self.non_tumor or self.kind
        self.history = rng.choice(B.HISTORY[history])
        self.incidental = (
            rng.choice(INCIDENTAL) if rng.random() < (0.1 if self.kind == "screening" else 0.35) else None
        )
        self.studies = (
            self._studies(rng, n)
            if self.kind == "malignant"
            else [Study(None, False, False, False, 0, 0)] * n
        )
        if self.kind == "malignant" and self.studies[0].episode is None:  # staging before the disease
            self.history = rng.choice(B.HISTORY["screening"])

    def names_for(self, key: str, rng: random.Random) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
        """The names (English, Korean) this patient's reports use for `key`, chosen once."""
        names = self._names.get(key)
        if names is None:
            if key in FAMILIES:
                names = rng.choice(FAMILIES[key])
            else:
                seen, unseen, korean = DIAGNOSES[key]
                extra = (rng.choice(unseen),) if rng.random() < 0.3 else ()
                names = ((*rng.sample(seen, 2), *extra), korean)
            self._names[key] = names
        return names

    def _studies(self, rng: random.Random, n: int) -> list[Study]:
        negatives = rng.choice((0, 0, 1, 1, 2)) if self.dx == "metastasis" and rng.random() < 0.35 else 0
        negatives = min(negatives, n - 2)
        out = [Study(None, False, False, False, 0, 0)] * negatives
        new = negatives > 0 or rng.random() < 0.4
        size = {"metastasis": 0.8, "glioma": 3.5, "lymphoma": 2.5}[self.dx] * rng.uniform(0.5, 1.6)
        size = round(size, 1)
        episode = None if not new else "progression"
        if new:
            out.append(Study("progression", True, False, rng.random() < 0.35, size, 0))
        while len(out) < n:
            episode = _draw(rng, TRANSITIONS[episode])
            previous = size
            if (episode == "improvement" and size <= 0.4) or (episode == "progression" and size >= 6.0):
                episode = "stable"
            if episode == "progression":
                size = max(round(size * rng.uniform(1.15, 1.6), 1), round(size + 0.2, 1))
            elif episode == "improvement":
                size = min(round(max(0.2, size * rng.uniform(0.45, 0.85)), 1), round(size - 0.1, 1))
            first = not out
            out.append(Study(episode, False, first, False, size, previous))
        return out


class BrainWriter:
    """Writes the reports of brain MRI series with one shared random stream."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def series(self, *, dates: list[str], korean: list[bool]) -> list[Doc]:
        patient = Patient(self.rng, len(dates))
        docs = []
        for i, study in enumerate(patient.studies):
            prior = dates[i - 1] if i else None
            docs.append(self._report(patient, study, prior=prior, outside=_outside(dates[0]), ko=korean[i]))
        return docs

    def _ko(self, p: float) -> bool:
        return self.ko and self.rng.random() < p

    def _report(self, p: Patient, s: Study, *, prior: str | None, outside: str, ko: bool) -> Doc:
        rng = self.rng
        self.ko = ko
        self.benign_uncertain = prior is None and rng.random() < 0.3  # "probably meningioma" at first
        doc = Doc()
        sep = rng.choice(SEPARATORS)
        self.sep = sep
        lines = []
        if rng.random() < 0.7:
            lines.append("CLINICAL INFORMATION: " + p.history)
        if rng.random() < 0.5:
            lines.append(rng.choice(X.BRAIN_TECHNIQUE))
        if prior:
            pool = X.BRAIN_COMPARE_KO if self._ko(0.3) else X.BRAIN_COMPARE
            lines.append(rng.choice(pool).format(P=prior))
        elif s.known_first or s.new:
            lines.append(rng.choice(X.BRAIN_COMPARE_OUTSIDE).format(P=outside))
        for line in lines:
            doc.write(line)
            doc.next_sentence("\n")
        doc.write(rng.choice(X.FINDINGS_HEADERS))
        doc.next_sentence("\n")
        self.first = True
        self._findings(doc, p, s)
        if ko and not is_hangul(doc.text()):
            self._next(doc)
            doc.write(rng.choice(X.BRAIN_FILLERS_KO))
        doc.next_sentence("\n\n")
        doc.write(rng.choice(X.IMPRESSION_HEADERS))
        doc.next_sentence("\n")
        self._impression(doc, p, s)
        return doc

    def _next(self, doc: Doc) -> None:
        if self.first:
            self.first = False
            if self.sep == "\n- ":
                doc.write("- ")
        else:
            doc.next_sentence(self.sep)

    def _findings(self, doc: Doc, p: Patient, s: Study) -> None:
        rng = self.rng
        if p.kind == "malignant" and s.episode:
            self._next(doc)
            self._malignant(doc, p, s, impression=False)
            if rng.random() < 0.4:
                self._next(doc)
                doc.write(rng.choice(B.EDEMA[s.episode]))
            if p.dx == "metastasis" and s.episode != "progression" and rng.random() < 0.3:
                self._next(doc)
                self._negated_mets(doc, new=True)
        else:
            if not (p.benign or p.non_tumor or p.incidental):
                self._next(doc)
                doc.write(rng.choice(X.BRAIN_NORMAL_KO if self._ko(0.3) else X.BRAIN_NORMAL))
            if p.kind in ("screening", "malignant") and rng.random() < 0.6:
                self._next(doc)
                self._negated_mets(doc, new=False)
        if p.benign:
            self._next(doc)
            self._benign(doc, p)
        present = [k for k in (p.non_tumor, p.incidental) if k]
        for key in dict.fromkeys(present):
            self._next(doc)
            self._non_tumor(doc, key, p)
        for key in NEGATED_SURFACES:
            if key not in present and rng.random() < 0.3:
                self._next(doc)
                self._negated_detail(doc, key)
        for filler in rng.sample(X.BRAIN_FILLERS, rng.choice((0, 1, 1, 2))):
            self._next(doc)
            doc.write(rng.choice(X.BRAIN_FILLERS_KO) if self._ko(0.3) else filler)

    def _diagnosis(
        self,
        key: str,
        *,
        ko: bool,
        negated: bool = False,
        uncertain: bool = False,
        forms: tuple[tuple[str, str], ...] = (),
        korean: tuple[str, ...] = (),
    ) -> Span:
        """A span for `key`: from the patient's own names (`forms`, `korean`) when given."""
        rng = self.rng
        seen, unseen, korean_all = DIAGNOSES[key]
        if ko and rng.random() < 0.7:
            text, self.cls = rng.choice(korean or korean_all), "m"
        elif forms:
            text, self.cls = rng.choice(forms)
        else:
            text, self.cls = rng.choice(unseen if rng.random() < 0.12 else seen)
        role = "f" if key in ("glioma", "lymphoma", "metastasis") and not negated else ""
        return span(key, text, negated, uncertain, role)

    def _episode(self, episode: str, form: str) -> Span:
        seen, unseen = EPISODES[episode][form]
        text = self.rng.choice(unseen if self.rng.random() < 0.12 else seen)
        return span(episode, text, False, False, "t")

    def _malignant(self, doc: Doc, p: Patient, s: Study, *, impression: bool) -> None:
        rng = self.rng
        ko = self._ko(0.5)
        d = self._diagnosis(p.dx, ko=ko, uncertain=s.uncertain, forms=p.forms)
        values: dict[str, object] = {"D": d, "Dc": cap_span(d), "T": _the(p.site[0]), "Tb": p.site[0]}
        values["TKo"] = p.site[1]
        values["be"] = "are" if self.cls == "p" else "is"
        values["It"] = "They" if self.cls == "p" else "It"
        if s.new:
            new = rng.choice(NEW_WORDS_KO if ko else NEW_WORDS)
            enew = span("progression", new, False, False, "t")
            enl = span("progression", rng.choice(("new lesions", "new lesion")), False, False, "t")
            values.update(Enew=enew, Enewc=cap_span(enew), Enlc=cap_span(enl), SizeNew=self._size_new(s))
            if impression:
                group = B.MAL_IMPRESSION_NEW_UNCERTAIN if s.uncertain else B.MAL_IMPRESSION_NEW
            else:
                group = B.MAL_KO_NEW if ko else B.MAL_NEW_UNCERTAIN if s.uncertain else B.MAL_NEW
            render(doc, rng.choice(group), values)
            return
        assert s.episode is not None
        for form, slot in (("adj", "Ea"), ("noun", "En"), ("pre", "Ep"), ("ko", "Eko")):
            ep = self._episode(s.episode, form)
            values[slot] = ep
            values[slot + "c"] = cap_span(ep)
        values["Size"] = self._size(s)
        if impression:
            group = B.MAL_IMPRESSION_KO if ko else B.MAL_IMPRESSION
        elif ko:
            group = B.MAL_KO
        elif s.known_first and rng.random() < 0.6:
            group = B.MAL_KNOWN_FIRST
        else:
            group = B.MAL_CROSS if rng.random() < 0.25 else B.MAL_SAME
        render(doc, rng.choice(group), values)

    def _size(self, s: Study) -> str:
        roll = self.rng.random()
        if roll < 0.3:
            return f" (now {s.size:.1f} cm, previously {s.previous:.1f} cm)"
        if roll < 0.5:
            return f" (from {s.previous:.1f} cm to {s.size:.1f} cm)"
        return ""

    def _size_new(self, s: Study) -> str:
        roll = self.rng.random()
        return f" (largest {s.size:.1f} cm)" if roll < 0.3 else f" ({s.size:.1f} cm)" if roll < 0.5 else ""

    def _negated_mets(self, doc: Doc, *, new: bool) -> None:
        rng = self.rng
        ko = self._ko(0.4)
        if not new and not ko and rng.random() < 0.25:
            lepto = rng.choice(("leptomeningeal seeding", "leptomeningeal metastasis"))
            render(doc, rng.choice(B.LEPTOMENINGEAL_NEGATED), {"D": span("metastasis", lepto, True)})
            return
        d = self._diagnosis("metastasis", ko=ko, negated=True)
        group = B.MAL_NEGATED_KO if ko else B.NO_NEW_METASTASIS if new else B.MAL_NEGATED
        render(doc, rng.choice(group), {"D": d})

    def _benign(self, doc: Doc, p: Patient) -> None:
        rng = self.rng
        ko = self._ko(0.4)
        uncertain = self.benign_uncertain and not ko
        assert p.benign is not None
        forms, korean = p.benign[2]
        d = self._diagnosis("non-malignant tumor", ko=ko, uncertain=uncertain, forms=forms, korean=korean)
        group = B.BENIGN_KO if ko else B.BENIGN_UNCERTAIN if uncertain else B.BENIGN
        size = f"{p.benign_size:.1f} cm"
        values = {"D": d, "Dc": cap_span(d), "T": _the(p.benign[0]), "TKo": p.benign[1], "Sz": size}
        render(doc, rng.choice(group), values)

    def _non_tumor(self, doc: Doc, key: str, p: Patient, *, impression: bool = False) -> None:
        rng = self.rng
        ko = self._ko(0.4)
        forms, korean = p.names_for(key, rng)
        d = self._diagnosis(key, ko=ko, forms=forms, korean=korean)
        group = B.NON_TUMOR_KO if ko else B.NON_TUMOR_IMPRESSION if impression else B.NON_TUMOR[key]
        values = {"D": d, "Dc": cap_span(d), "T": _the(p.site[0]), "TKo": p.site[1]}
        values["S"] = _the(rng.choice(STROKE_SITES))
        render(doc, rng.choice(group), values)

    def _negated_detail(self, doc: Doc, key: str) -> None:
        rng = self.rng
        ko = self._ko(0.4)
        english, korean = NEGATED_SURFACES[key]
        d = span(key, rng.choice(korean if ko else english), True)
        group = (
            B.NEGATED_DETAIL_KO.get(key, B.NEGATED_DETAIL_KO["other non-tumor"])
            if ko
            else B.NEGATED_DETAIL[key]
        )
        render(doc, rng.choice(group), {"D": d, "Dc": cap_span(d)})

    def _impression(self, doc: Doc, p: Patient, s: Study) -> None:
        rng = self.rng
        numbered = rng.random() < 0.65
        items: list[tuple[str, str]] = []  # (kind, the non-tumor key or "")
        if p.kind == "malignant" and s.episode:
            items.append(("malignant", ""))
        if p.benign and (p.kind == "benign" or rng.random() < 0.5):
            items.append(("benign", ""))
        for key in dict.fromkeys(k for k in (p.non_tumor, p.incidental) if k):
            if key == p.non_tumor or rng.random() < 0.4:
                items.append(("non_tumor", key))
        if not items:
            if p.kind in ("screening", "malignant") and rng.random() < 0.5:
                items.append(("negated_mets", ""))
            else:
                items.append(("normal", ""))
        for i, (kind, key) in enumerate(items, start=1):
            if i > 1:
                doc.next_sentence("\n" if numbered else " ")
            if numbered:
                doc.write(f"{i}. ")
            if kind == "malignant":
                self._malignant(doc, p, s, impression=True)
            elif kind == "benign":
                self._benign(doc, p)
            elif kind == "non_tumor":
                self._non_tumor(doc, key, p, impression=True)
            elif kind == "negated_mets":
                self._negated_mets(doc, new=False)
            else:
                doc.write(rng.choice(X.BRAIN_NORMAL_KO if self._ko(0.3) else X.BRAIN_NORMAL))


def _the(site: str) -> str:
    return site if site.startswith("both") else "the " + site


def _draw(rng: random.Random, weights: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([k for k, _ in weights], weights=[w for _, w in weights])[0]


def _outside(first_date: str) -> str:
    """The date of the outside study a first report compares with: two months earlier."""
    year, month, day = int(first_date[:4]), int(first_date[5:7]), min(int(first_date[8:10]), 28)
    month -= 2
    if month < 1:
        month += 12
        year -= 1
    return f"{year:04d}-{month:02d}-{day:02d}"
