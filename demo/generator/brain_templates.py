"""Brain MRI sentence templates (slot syntax in text.py).

Slots: D/Dc diagnosis (a pair source for malignant diagnoses), Ea/Eac episode
in adjective form, En/Enc noun form, Ep/Epc pre-nominal form, Eko Korean, Enew
first-appearance phrase ("newly developed"); T/TKo site of the lesion (plain
text, T with its article: "the pons", "both cerebral hemispheres"; Tb bare);
Size "(now 1.6 cm, previously 1.1 cm)" or ""; be/It agree with D.
"""

from __future__ import annotations

from .text import compile_all

# Malignant diagnosis and its episode in one sentence.
MAL_SAME = compile_all(
    (
        "{Dc} in {T}, {Ea}{Size}.",
        "{Enc} of the {D} in {T}{Size}.",
        "{Epc} {D} in {T}{Size}.",
        "The {D} in {T} {be} {Ea}{Size}.",
        "{Dc} ({Tb}): {Ea}{Size}.",
        "Known {D} in {T}, {Ea}{Size}.",
        "Enhancing mass in {T}{Size}, consistent with {En} of {D}.",
        "{Dc} involving {T}, {Ea} compared with the prior study{Size}.",
        "{Enc} of {D} in {T}{Size}.",
    )
)
# The episode in the next sentence, so same-sentence rules miss the pair.
MAL_CROSS = compile_all(
    (
        "Known {D} in {T}. {/}{Enc} compared with the prior study{Size}.",
        "Enhancing lesion in {T}, consistent with {D}. {/}The lesion is {Ea}{Size}.",
        "{Dc} in {T}{Size}. {/}{It} {be} {Ea}.",
        "{Dc} is again noted in {T}. {/}{Enc} is seen{Size}.",
        "Rim-enhancing {D} in {T}. {/}Compared with the prior study, {Ea}{Size}.",
    )
)
MAL_NEW = compile_all(
    (
        "{Enewc} {D} in {T}{SizeNew}.",
        "{Enlc} in {T}, consistent with {D}{SizeNew}.",
        "{Enewc} enhancing nodule in {T}{SizeNew}, consistent with {D}.",
    )
)
MAL_NEW_UNCERTAIN = compile_all(
    (
        "{Enewc} enhancing nodule in {T}{SizeNew}, suspicious for {D}.",
        "{Enewc} enhancing lesion in {T}, r/o {D}.",
        "{Enewc} small enhancing focus in {T}; possible {D}.",
    )
)
MAL_KNOWN_FIRST = compile_all(
    (
        "Known {D}, post-operative state; residual enhancing tumor, {Ea}{Size}.",
        "{Dc}, s/p resection and CCRT; {Ep} residual enhancing lesion in {T}{Size}.",
        "{Dc} s/p chemotherapy; {En} of the enhancing lesions in {T}{Size}.",
        "Known {D} in {T}, {Ea} compared with the outside MRI{Size}.",
    )
)
MAL_KO = compile_all(
    (
        "{TKo}의 {D} {Eko}.",
        "{D}, 이전 검사와 비교하여 {Eko}.",
        "{TKo} {D}{Size}, {Eko}.",
        "{TKo}에 {D}. {/}이전 검사와 비교하여 {Eko}.",
    )
)
MAL_KO_NEW = compile_all(("{TKo}에 {Enew} {D}.", "{TKo}에 {Enew} {D} 보임."))
MAL_IMPRESSION = compile_all(
    (
        "{Dc}, {Ea}.",
        "{Enc} of {D} in {T}.",
        "{Dc} in {T}: {Ea}.",
        "{Epc} {D}.",
        "Known {D}, {En}.",
        "{Dc}, {En} compared with the prior MRI.",
    )
)
MAL_IMPRESSION_NEW = compile_all(("{Enewc} {D} in {T}.", "{Dc}, {Enew}."))
MAL_IMPRESSION_NEW_UNCERTAIN = compile_all(
    ("{Enewc} enhancing nodule in {T}, r/o {D}.", "{Enewc} lesion in {T}, suspicious for {D}.")
)
MAL_IMPRESSION_KO = compile_all(("{D} {Eko}.", "{TKo} {D}, {Eko}."))
MAL_NEGATED = compile_all(
    (
        "No evidence of {D}.",
        "No abnormal enhancing lesion to suggest {D}.",
        "Negative for {D}.",
        "No {D}.",
    )
)
MAL_NEGATED_KO = compile_all(("{D} 없음.", "새로운 {D} 없음."))
NO_NEW_METASTASIS = compile_all(("No new {D}.", "No newly developed {D}."))
LEPTOMENINGEAL_NEGATED = compile_all(("No {D}.", "No evidence of {D}."))

# Non-malignant tumors: never paired; "unchanged" here is not an episode.
BENIGN = compile_all(
    (
        "{Sz} {D} at {T}, unchanged.",
        "{Dc} in {T}, no interval change.",
        "Small {D} along {T}.",
        "Known {D} in {T}, stable.",
        "{Dc} ({Sz}) at {T}, similar to the prior study.",
    )
)
BENIGN_UNCERTAIN = compile_all(
    ("Extra-axial enhancing mass at {T}, probably {D}.", "Dural-based enhancing lesion at {T}, r/o {D}.")
)
BENIGN_KO = compile_all(("{TKo} {D}, 변화 없음.", "{TKo}에 {D} 있음."))

# Other non-tumor findings and their details.
NON_TUMOR = {
    "other non-tumor": compile_all(
        ("{Dc} in the periventricular white matter.", "Chronic {D}.", "Mild {D}.", "{Dc} in {T}.")
    ),
    "stroke/infarction": compile_all(
        ("Old {D} in {S}.", "Acute {D} in {S}.", "{Dc} in {S}, chronic.", "Chronic {D} in {S}.")
    ),
    "hemorrhage/vascular lesion": compile_all(
        (
            "{Dc} in the resection cavity.",
            "Multiple {D} in both cerebral hemispheres.",
            "Small {D} in {T}.",
            "Post-operative {D} along the resection margin.",
        )
    ),
    "demyelinating": compile_all(
        (
            "{Dc} in the periventricular and juxtacortical white matter.",
            "Multiple {D} in {T}.",
            "{Dc}, without enhancing lesion.",
        )
    ),
    "infection/inflammation": compile_all(
        ("{Dc} in {T} with surrounding edema.", "Decreased extent of {D} in {T}.", "{Dc}, improving.")
    ),
}
NON_TUMOR_KO = compile_all(("{TKo}에 {D} 있음.", "{D} 소견."))
NEGATED_DETAIL = {
    "stroke/infarction": compile_all(
        ("No acute {D}.", "No evidence of acute {D}.", "Negative for acute {D}.")
    ),
    "hemorrhage/vascular lesion": compile_all(
        ("No intracranial {D}.", "No {D}.", "{Dc} is not seen.", "No evidence of {D}.")
    ),
    "other non-tumor": compile_all(("No {D}.",)),
}
NEGATED_DETAIL_KO = {
    "stroke/infarction": compile_all(("{D} 없음.", "급성 {D} 없음.")),
    "other non-tumor": compile_all(("{D} 없음.", "{D} 소견 없음.")),
}
NON_TUMOR_IMPRESSION = compile_all(("{Dc}.", "{Dc} in {T}.", "Known {D}, no change."))

EDEMA = {
    "progression": ("Peritumoral edema has increased.", "Mass effect has increased slightly."),
    "stable": ("Perilesional edema is similar.", "No change of the peritumoral edema."),
    "improvement": ("Perilesional edema has decreased.", "Mass effect has decreased."),
}
HISTORY = {
    "metastasis": (
        "Lung cancer, f/u after GKS.",
        "NSCLC, s/p WBRT.",
        "Breast cancer, f/u.",
        "Melanoma, f/u.",
    ),
    "glioma": ("s/p tumor removal and CCRT.", "Post-op f/u.", "On TMZ, f/u."),
    "lymphoma": ("s/p HD-MTX chemotherapy.", "f/u after chemotherapy.", "Lymphoma work-up f/u."),
    "screening": ("Lung cancer staging.", "Headache.", "Dizziness.", "Breast cancer, staging work-up."),
    "benign": ("Headache.", "Known meningioma, f/u.", "Hearing loss."),
    "demyelinating": ("Optic neuritis.", "Multiple sclerosis, f/u.", "Numbness of both legs."),
    "stroke/infarction": ("Right-sided weakness.", "Dysarthria.", "Stroke f/u."),
    "infection/inflammation": (
        "Fever and headache.",
        "Brain abscess, on antibiotics.",
        "Altered mentality, fever.",
    ),
    "other non-tumor": ("Dizziness.", "Memory impairment.", "Headache."),
}
