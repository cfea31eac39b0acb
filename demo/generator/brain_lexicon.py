"""Brain MRI surface forms: diagnoses, non-tumor details and episodes.

As for chest CT, `seen` surfaces are values of default_schema.json and
`unseen` ones are real phrasings missing from it. Classes: c countable
singular, p plural, m mass noun. Episode surfaces come in grammatical forms:
"adj" follows the diagnosis (", increased in size"; "is unchanged"), "noun" heads
a phrase ("Progression of ..."), "pre" precedes it ("Enlarging metastasis").
"""

from __future__ import annotations

from .text import parse_forms as _forms

Forms = tuple[tuple[str, str], ...]

# key -> (seen, unseen, korean)
DIAGNOSES: dict[str, tuple[Forms, Forms, tuple[str, ...]]] = {
    "glioma": (
        _forms(
            "glioma:c|glioblastoma:c|GBM:c|astrocytoma:c|oligodendroglioma:c|high-grade glioma:c|HGG:c"
            "|low-grade glioma:c|glial tumor:c|diffuse midline glioma:c"
        ),
        _forms("glial neoplasm:c|grade 4 astrocytic tumor:c|infiltrative glial tumour:c"),
        ("신경교종", "교모세포종", "GBM"),
    ),
    "lymphoma": (
        _forms("lymphoma:c|PCNSL:c|primary CNS lymphoma:c|CNS lymphoma:c|DLBCL:c"),
        _forms("lymphomatous lesion:c|lymphoproliferative lesion:c|lymphomatous involvement:m"),
        ("림프종", "PCNSL"),
    ),
    "metastasis": (
        _forms(
            "metastasis:c|metastases:p|metastatic lesion:c|metastatic lesions:p|mets:p|brain mets:p"
            "|metastatic nodules:p|brain metastasis:c|brain metastases:p"
        ),
        _forms("secondary deposits:p|hematogenous spread:m|secondary tumor deposits:p"),
        ("뇌전이", "전이", "뇌 전이", "brain mets"),
    ),
    "non-malignant tumor": (
        _forms(
            "meningioma:c|meningiomas:p|schwannoma:c|vestibular schwannoma:c|pituitary adenoma:c"
            "|macroadenoma:c|hemangioblastoma:c|epidermoid cyst:c"
        ),
        _forms("benign extra-axial tumor:c|dural-based benign tumor:c"),
        ("수막종", "신경초종", "뇌하수체 선종"),
    ),
    "other non-tumor": (
        _forms(
            "encephalomalacia:m|gliosis:m|white matter hyperintensities:p|small vessel disease:m"
            "|leukoaraiosis:m|hydrocephalus:m"
        ),
        _forms(
            "chronic ischemic white matter change:m|ventriculomegaly:m|periventricular T2 hyperintensities:p"
        ),
        ("뇌연화", "백질 고신호"),
    ),
    "demyelinating": (
        _forms(
            "demyelinating lesions:p|demyelinating plaques:p|multiple sclerosis:m|MS plaques:p"
            "|demyelination:m|demyelinating lesion:c|NMOSD:m"
        ),
        _forms("ovoid periventricular plaques:p|Dawson's fingers:p"),
        ("탈수초", "탈수초 병변"),
    ),
    "hemorrhage/vascular lesion": (
        _forms(
            "hemorrhage:m|hematoma:c|microbleeds:p|subdural hematoma:c|cavernous malformation:c"
            "|cavernoma:c|ICH:m|aneurysm:c"
        ),
        _forms("blood products:p|hemosiderin deposition:m|bleeding:m"),
        ("출혈", "혈종", "뇌출혈"),
    ),
    "infection/inflammation": (
        _forms(
            "abscess:c|brain abscess:c|encephalitis:m|meningitis:m|cerebritis:m|ventriculitis:m|empyema:m"
        ),
        _forms("rim-enhancing purulent collection:c|infectious lesion:c"),
        ("뇌농양", "뇌염", "수막염"),
    ),
    "stroke/infarction": (
        _forms(
            "infarction:m|infarct:c|infarcts:p|acute infarct:c|acute infarction:m|lacunar infarcts:p"
            "|lacunar infarct:c|stroke:m"
        ),
        _forms("ischemic lesion:c|territorial ischemia:m|old ischemic lesions:p"),
        ("경색", "뇌경색", "열공성 경색"),
    ),
}

# A glioma patient's reports keep to one family of names.
GLIOMA_FAMILIES = (
    _forms("glioblastoma:c|GBM:c|high-grade glioma:c|HGG:c|glioma:c|glial tumor:c"),
    _forms("low-grade glioma:c|LGG:c|astrocytoma:c|oligodendroglioma:c|glioma:c|diffuse midline glioma:c"),
)

# episode -> form -> (seen, unseen)
EPISODES: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "progression": {
        "adj": (
            ("increased in size", "enlarged", "aggravated", "progressed"),
            ("larger than before", "more extensive"),
        ),
        "noun": (
            ("progression", "interval increase", "aggravation", "worsening", "increase in size"),
            ("interval growth", "further enlargement"),
        ),
        "pre": (("enlarging", "progressive", "aggravated"), ("growing",)),
        "ko": (("증가", "진행", "악화"), ("커짐",)),
    },
    "stable": {
        "adj": (("stable", "unchanged", "similar in size", "stationary"), ("not changed", "about the same")),
        "noun": (("no significant change", "no interval change", "no change"), ("no interval growth",)),
        "pre": (("stable", "unchanged"), ("steady",)),
        "ko": (("변화 없음", "큰 변화 없음", "변화없음"), ("비슷함",)),
    },
    "improvement": {
        "adj": (("improved", "decreased in size", "regressed"), ("smaller than before", "reduced in size")),
        "noun": (
            ("improvement", "interval decrease", "regression", "decrease in size", "partial response"),
            ("interval shrinkage", "reduction in size"),
        ),
        "pre": (("improved", "regressing"), ("shrinking", "decreased")),
        "ko": (("감소", "호전"), ("줄어듦",)),
    },
}
NEW_EPISODES = ("newly developed", "new lesion", "new lesions")  # first appearance: progression

TUMOR_SITES = (
    ("left frontal lobe", "좌측 전두엽"),
    ("right frontal lobe", "우측 전두엽"),
    ("right temporal lobe", "우측 측두엽"),
    ("left temporal lobe", "좌측 측두엽"),
    ("left parietal lobe", "좌측 두정엽"),
    ("right occipital lobe", "우측 후두엽"),
    ("left cerebellar hemisphere", "좌측 소뇌"),
    ("right cerebellum", "우측 소뇌"),
    ("corpus callosum", "뇌량"),
    ("right basal ganglia", "우측 기저핵"),
    ("right thalamus", "우측 시상"),
    ("pons", "뇌교"),
    ("periventricular white matter", "뇌실 주위 백질"),
)
MULTI_SITES = (
    ("both cerebral hemispheres", "양측 대뇌반구"),
    ("both cerebellar hemispheres", "양측 소뇌"),
    ("left frontal lobe and right cerebellum", "좌측 전두엽 및 우측 소뇌"),
    ("both frontal and parietal lobes", "양측 전두엽 및 두정엽"),
)
# One patient's non-tumor disease keeps to one family of names (an abscess stays an abscess).
FAMILIES: dict[str, tuple[tuple[Forms, tuple[str, ...]], ...]] = {
    "infection/inflammation": (
        (_forms("abscess:c|brain abscess:c|rim-enhancing purulent collection:c"), ("뇌농양",)),
        (_forms("encephalitis:m|cerebritis:m|infectious lesion:c"), ("뇌염",)),
        (_forms("meningitis:m|ventriculitis:m|empyema:m"), ("수막염",)),
    ),
    "hemorrhage/vascular lesion": (
        (_forms("microbleeds:p|blood products:p|hemosiderin deposition:m"), ("미세출혈", "출혈")),
        (_forms("hemorrhage:m|hematoma:c|ICH:m|bleeding:m"), ("출혈", "혈종", "뇌출혈")),
        (_forms("cavernous malformation:c|cavernoma:c"), ("해면상 혈관종",)),
        (_forms("subdural hematoma:c|hematoma:c"), ("경막하 혈종", "혈종")),
    ),
    "other non-tumor": (
        (_forms("encephalomalacia:m|gliosis:m"), ("뇌연화",)),
        (
            _forms("white matter hyperintensities:p|small vessel disease:m|leukoaraiosis:m"),
            ("백질 고신호",),
        ),
        (_forms("hydrocephalus:m|ventriculomegaly:m"), ("수두증",)),
    ),
}

_MENINGIOMA = (_forms("meningioma:c|benign extra-axial tumor:c|dural-based benign tumor:c"), ("수막종",))
# Extra-axial sites with the benign tumors that grow there: (site, Korean site, (names, Korean names)).
EXTRA_AXIAL_SITES = (
    ("left frontal convexity", "좌측 전두부 볼록면", _MENINGIOMA),
    ("falx", "대뇌겸", _MENINGIOMA),
    ("right sphenoid wing", "우측 접형골익", _MENINGIOMA),
    ("left parasagittal area", "좌측 시상옆", _MENINGIOMA),
    ("tuberculum sellae", "안장결절", _MENINGIOMA),
    (
        "right cerebellopontine angle",
        "우측 소뇌교각",
        (_forms("vestibular schwannoma:c|schwannoma:c|acoustic neuroma:c"), ("신경초종",)),
    ),
    ("sella", "안장", (_forms("pituitary adenoma:c|macroadenoma:c|microadenoma:c"), ("뇌하수체 선종",))),
)
STROKE_SITES = (
    "both basal ganglia",
    "left MCA territory",
    "right corona radiata",
    "left thalamus",
    "pons",
    "both periventricular white matter",
)
