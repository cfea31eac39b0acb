"""Chest CT sentence templates (see text.py for the slot syntax).

A leading "cpm|" restricts a template to lesion surfaces of those grammatical
classes (c countable singular, p plural, m mass); a leading "*" marks a template
that speaks of a prior study ("Interval increase of ..."), not used when the
patient has none. Slots: F/Fc finding (Fc
capitalised), aF/aFc with an indefinite article when countable, L locations
with an optional "the", Lb bare, Lc capitalised bare, be/It/has/inv agree with
the finding, lbe with the locations, Sz/aSz/aszl size, Adj adjective, SE series and
image, R remark, P prior date, Side/Amt for effusions.
"""

from __future__ import annotations

from .text import Template, compile_all, compile_template

ByClass = dict[str, tuple[Template, ...]]


def by_class(sources: tuple[str, ...]) -> ByClass:
    """Templates by surface class: "c", "p", "m"; "c0", "p0", "m0" without the prior-study ones."""
    out: dict[str, list[Template]] = {k: [] for k in ("c", "p", "m", "c0", "p0", "m0")}
    for source in sources:
        needs_prior = source.startswith("*")
        classes, sep, body = source.lstrip("*").partition("|")
        if not sep:
            classes, body = "cpm", source.lstrip("*")
        for cls in classes:
            out[cls].append(compile_template(body))
            if not needs_prior:
                out[cls + "0"].append(out[cls][-1])
    return {cls: tuple(ts) for cls, ts in out.items()}


PRESENT_LOC = by_class(
    (
        "{Fc} in {L}{SE}.",
        "{Fc} at {Lb}.",
        "{Fc} {be} noted in {L}.",
        "{Fc} {be} seen in {L}{SE}.",
        "There {be} {aF} in {L}.",
        "In {L}, there {be} {aF}{R}.",
        "{Lc}: {F}{R}.",
        "{Fc} involving {L}{R}.",
        "{Fc} in {L}{R}.",
        "*mp|Newly developed {F} in {L}{R}.",
        "*Interval increase of {F} in {L}.",
        "*Slightly increased extent of {F} in {L}, compared with the prior study.",
        "*Decreased extent of {F} in {L}.",
        "*mp|Stable {F} in {L}.",
        "mp|Multifocal {F} in {L}.",
        "mp|Patchy {F} in {L}{R}.",
        "mp|Mild {F} in {L}.",
        "p|Scattered {F} in {L}.",
        "{Lc} {shows} {aF}{R}.",
        "{Fc} {be} present in {L}.",
        "*{Fc} {be} again seen in {L}, unchanged.",
        "*mp|Persistent {F} in {L}.",
        "*mp|Residual {F} in {L}.",
        "*{Fc} in {L} {be} similar to the previous study.",
        "{Fc} predominantly in {L}.",
        "*{Fc} in {L}, slightly increased.",
        "*{Fc} in {L}, decreased in extent.",
        "Focal {F} at {Lb}{SE}.",
        "{Fc} {be} demonstrated in {L}{R}.",
    )
)
CONSOLIDATION_LOC = by_class(
    (
        "{Fc} with air-bronchograms in {L}{R}.",
        "{Fc} with internal air-bronchograms at {Lb}, r/o pneumonia.",
        "Lobar {F} in {L}, consistent with pneumonia.",
    )
)
SIZED_LOC = by_class(
    (
        "c|{aSz} {Adj}{F} in {L}{SE}.",
        "c|{aSz} {Adj}{F} at {Lb}{SE}.",
        "c|{Lc}: {Sz} {Adj}{F}{SE}.",
        "*c|{Sz} {Adj}{F} in {L}{SE}, {Chg}.",
        "c|{Fc} in {L}, measuring {Sz}{SE}.",
        "c|{Fc} measuring about {Sz} in {L}.",
        "c|There is {aszl} {Adj}{F} in {L}{SE}.",
        "*c|Known {Sz} {F} in {L}, stable since the prior study.",
        "*c|Interval increase in size of the {F} in {L} ({Sz}, previously {Sz0}).",
        "c|{Fc} ({Sz}) in {L}{SE}.",
    )
)
CROSS_LOC = by_class(
    (
        "There {be} {aF}. {/}{It} {be} located in {L}.",
        "*mp|There {be} newly developed {F}. {/}{It} {be} located in {L}.",
        "{Fc} {be} noted. {/}{It} {inv} {L}.",
        "{Fc} {be} seen{SE}. {/}Location: {Lb}.",
        "*{Fc} {be} newly seen. {/}Mainly in {L}.",
        "{Fc} {be} observed. {/}{Lc} {lbe} involved.",
        "*Compared with the prior CT, {F} {has} increased. {/}{It} {be} seen in {L}.",
        "{Fc} {be} noted{R}. {/}{Lc} {lbe} mainly affected.",
        "*New {F} {be} found. {/}The affected area is {L}.",
        "*{Fc} {be} again demonstrated. {/}{It} {be} distributed in {L}.",
        "There {be} {aF}{SE}. {/}{It} {be} in {L}.",
    )
)
SIZED_CROSS = by_class(
    (
        "c|There is {aszl} {Adj}{F}{SE}. {/}It is located in {L}.",
        "c|{aSz} {Adj}{F} is noted{SE}. {/}Location: {Lb}.",
        "*c|{aSz} {Adj}{F}, unchanged. {/}It is in {L}{SE}.",
    )
)
PRESENT_NOLOC = by_class(
    (
        "{Fc} {be} noted.",
        "mp|Mild {F}.",
        "{Fc}, nonspecific.",
        "mp|Minimal {F}.",
    )
)
UNPAIRED = by_class(
    (
        "{Side} {F}, {Amt}.",
        "{AmtA} {side} {F}.",
        "{Fc} on the {side} side, {Amt}.",
        "mp|Bilateral {F}, right > left.",
        "*{Fc} {be} increased in amount.",
        "*{Fc}, decreased.",
        "{AmtA} {F}.",
        "{Side} {F}.",
    )
)
THICKENING = by_class(
    (
        "{Side} {F}.",
        "{AmtA} {side} {F}.",
        "{Fc} on the {side} side, {Amt}.",
        "mp|Bilateral {F}.",
        "{AmtA} {F}.",
        "{Fc} at both apices.",
    )
)
UNCERTAIN_LOC = by_class(
    (
        "Cannot exclude {F} in {L}.",
        "Possible {F} in {L}.",
        "Probable {F} in {L}{SE}.",
        "Suspicious {F} in {L}.",
        "Suggestive of {F} in {L}.",
        "Linear opacity in {L}, r/o {F}.",
        "Faint opacity in {L}, suggestive of {F}.",
        "Questionable {F} in {L}.",
        "{Fc} {be} suspected in {L}.",
        "Subtle density in {L}, cannot exclude {F}.",
        "Possible {F} is noted. {/}{It} {be} in {L}.",
    )
)
UNCERTAIN_NOLOC = by_class(
    ("Cannot exclude {F}.", "Possible small {F}.", "R/O minimal {F}.", "Questionable {F}.")
)
NEGATED = by_class(
    (
        "No {F}.",
        "No evidence of {F}.",
        "No definite {F}.",
        "No {F} {be} seen.",
        "m|{Fc} is not seen.",
        "p|{Fc} are not seen.",
        "m|{Fc} was not detected.",
        "Negative for {F}.",
        "No visible {F}.",
        "mp|No significant {F}.",
        "{Fc}: none.",
        "The lungs are well expanded without {F}.",
    )
)
NEGATED_EFFUSION = by_class(
    ("No pericardial or {F}.", "Normal heart size without {F}.", "No {F} on either side.")
)
NEGATED_TWO = compile_template("No {F} or {G}.")
RESOLVED_LOC = by_class(
    (
        "Previously noted {F} in {L} has resolved.",
        "Previously seen {F} in {L} is no longer seen.",
        "Resolved {F} in {L}.",
        "Interval resolution of {F} in {L}.",
        "The {F} in {L} has disappeared.",
    )
)
RESOLVED_NOLOC = by_class(("Previously noted {F} has resolved.", "Resolved {F}.", "{Fc}: no longer seen."))
NO_NEW = compile_template("No new {F}.")
IMPRESSION_ITEM = by_class(
    (
        "{Fc} in {L}, {Interp}.",
        "{Fc} in {L}.",
        "{Lc} {F}, {Interp}.",
        "{Fc} ({Lb}), {Interp}.",
        "{Fc} at {Lb}{R}.",
    )
)
IMPRESSION_NOLOC = by_class(("{Fc}.", "{Fc}, {Interp}."))

# Korean-mixed variants (used in about 20% of reports).
_KO_PRESENT = (
    "{L}에 {F} 보임.",
    "{L}에 {F} 있음.",
    "{L}의 {F}.",
    "{L}에 새로 생긴 {F}.",
    "{L} {F}, 이전과 비슷함.",
    "{L}에 {F} 증가.",
    "{L}에 {F} 관찰됨.",
)
KO_SIZED = compile_template("{L}에 {Sz} 크기의 {F} 관찰됨.")
KO_CROSS = tuple(
    compile_template(s) for s in ("{F} 보임. {/}위치는 {Lb}.", "새로운 {F} 관찰됨. {/}{Lb}에 위치함.")
)
KO_UNCERTAIN = tuple(compile_template(s) for s in ("{L}에 {F} 의심됨.", "{L}의 {F} 가능성 있음."))
KO_NEGATED = tuple(compile_template(s) for s in ("{Fc} 없음.", "{Fc} 보이지 않음.", "{Fc} 소견 없음."))
KO_NEGATED_TOPIC = compile_template("{F}{Top} 보이지 않음.")
KO_RESOLVED = compile_template("{L}의 {F} 소실됨.")
_KO_UNPAIRED = ("{SideKo} {F}, 소량.", "{SideKo} {F} 있음.", "{Fc} 증가.")
KO_IMPRESSION = tuple(compile_template(s) for s in ("{L}의 {F}, {InterpKo}.", "{L} {F}."))

SIDES = ("Lt.", "Rt.", "Left", "Right", "Bilateral")
SIDE_WORDS = ("left", "right")
SIDES_KO = ("좌측", "우측", "양측")
AMOUNTS = (
    "small amount",
    "minimal amount",
    "moderate amount",
    "large amount",
    "small",
    "increased",
    "decreased",
)
AMOUNTS_A = ("Small", "Minimal", "Moderate amount of", "Small amount of", "Large")
THICKENING_AMOUNTS = ("mild", "focal", "diffuse", "calcified", "unchanged")
THICKENING_AMOUNTS_A = ("Mild", "Focal", "Diffuse", "Calcified", "Minimal")
SERIES = ("", "", "", "", " (Se 3, Im {})", " (se 4 im {})", " (image 3-{})", " (#{})", " (Se 2, Im {})")
CHANGES = ("unchanged", "stable", "slightly increased", "newly developed", "decreased in size", "no change")
REMARKS = (
    "",
    "",
    "",
    "",
    ", likely inflammatory",
    ", r/o pneumonia",
    ", suggestive of infection",
    ", probably post-infectious",
    ", nonspecific",
    ", r/o aspiration",
    ", likely benign",
)
INTERPRETATIONS = (
    "likely inflammatory",
    "r/o pneumonia",
    "suggestive of infection",
    "nonspecific",
    "probably post-infectious sequela",
    "likely infectious bronchiolitis",
    "increased compared with the prior study",
    "decreased compared with the prior study",
    "no significant interval change",
)
# Interpretations that fit some lesions only; the others use INTERPRETATIONS.
INTERPRETATIONS_BY_KEY = {
    "nodule": (
        "probably benign",
        "indeterminate; follow-up CT in 3 months is recommended",
        "r/o malignancy",
        "stable, probably benign",
        "nonspecific",
        "unchanged compared with the prior study",
    ),
    "mass": ("r/o malignancy", "suggestive of lung cancer", "increased compared with the prior study"),
    "consolidation": (
        "consistent with pneumonia",
        "r/o pneumonia",
        "suggestive of infection",
        "likely inflammatory",
    ),
    "fibrosis": ("compatible with TB sequelae", "probably post-infectious sequela", "nonspecific"),
    "interstitial thickening": ("r/o interstitial lung disease", "nonspecific", "r/o pulmonary edema"),
}
INTERPRETATIONS_KO = (
    "폐렴 가능성",
    "염증성 변화",
    "이전과 비슷함",
    "추적 검사 요함",
    "감염 의심",
    "결핵 후유증",
)


# Wording that presupposes a prior study, left out of a patient's first report.
PRIOR_WORDS = ("unchanged", "increased", "decreased", "interval", "stable", "이전", "새로", "증가")


def first_study(items: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(x for x in items if not any(w in x for w in PRIOR_WORDS))


KO_PRESENT = compile_all(_KO_PRESENT)
KO_PRESENT_FIRST = compile_all(first_study(_KO_PRESENT))
KO_UNPAIRED = compile_all(_KO_UNPAIRED)
KO_UNPAIRED_FIRST = compile_all(first_study(_KO_UNPAIRED))
REMARKS_FIRST = first_study(REMARKS)
INTERPRETATIONS_KO_FIRST = first_study(INTERPRETATIONS_KO)
INTERPRETATIONS_FIRST = first_study(INTERPRETATIONS)
INTERPRETATIONS_BY_KEY_FIRST = {key: first_study(items) for key, items in INTERPRETATIONS_BY_KEY.items()}
