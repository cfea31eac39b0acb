"""Chest CT surface forms: how each lesion and location key is written.

`seen` surfaces are entity values of default_schema.json (possibly in another
case); `unseen` ones are real phrasings that the seed lexicon lacks, so keyword
rules miss them ("opacities with a hazy increased attenuation" is a ground-glass
opacity). Grammatical class of a lesion surface: c countable singular ("a
nodule"), p plural ("nodules are"), m mass noun ("consolidation is").

Pleural effusion and pleural thickening take no pairs: their location is the
pleura implicitly (docs/schema.md), so their gold "locations" is always
[] and "Lt. pleural effusion" labels only the effusion, never a location.
"""

from __future__ import annotations

from typing import NamedTuple

from .text import parse_forms as _forms


class Lesion(NamedTuple):
    seen: tuple[tuple[str, str], ...]
    unseen: tuple[tuple[str, str], ...]
    korean: tuple[str, ...]
    adjectives: tuple[str, ...]  # for "A 7 mm {adj} nodule"; empty = no size-led templates
    locations: tuple[str, ...]  # weighted pool of location keys (repeats = weight)
    paired: bool = True


RUL, RML, RLL = "right upper lobe", "right middle lobe", "right lower lobe"
LUL, LING, LLL = "left upper lobe", "lingula", "left lower lobe"
RLUNG, LLUNG, BOTH = "right lung", "left lung", "both lungs"
PLEURA, MEDI = "pleura", "mediastinum/hilum"
LOBES = (RUL, RML, RLL, LUL, LING, LLL)

LESIONS: dict[str, Lesion] = {
    "nodule": Lesion(
        _forms(
            "nodule:c|nodules:p|nodular opacity:c|nodular opacities:p|nodular lesion:c|micronodules:p"
            "|pulmonary nodule:c|pulmonary nodules:p|SPN:c|GGN:c"
        ),
        _forms(
            "small round opacity:c|subsolid lesion:c|part-solid lesion:c|calcified granuloma:c"
            "|tiny dot-like opacities:p|solitary pulmonary lesion:c|centrilobular nodularity:m"
        ),
        ("결절", "결절들"),
        ("solid ", "part-solid ", "subsolid ", "calcified ", "non-calcified ", "spiculated ", "", "", ""),
        (RUL, RUL, RML, RLL, RLL, LUL, LUL, LING, LLL, LLL, BOTH, BOTH, RLUNG, LLUNG),
    ),
    "mass": Lesion(
        _forms(
            "mass:c|masses:p|mass lesion:c|mass-like lesion:c|masslike lesion:c|mass-like consolidation:c"
        ),
        _forms("bulky soft tissue lesion:c|lobulated soft tissue density:c|large tumorous lesion:c"),
        ("종괴",),
        ("lobulated ", "spiculated ", "central ", "necrotic ", "", ""),
        (RUL, RUL, RLL, LUL, LUL, LLL, MEDI, MEDI, MEDI, PLEURA),
    ),
    "consolidation": Lesion(
        _forms(
            "consolidation:m|consolidations:p|consolidative opacity:c|consolidative change:m"
            "|consolidative changes:p|airspace consolidation:m|air-space consolidation:m|airspace disease:m"
        ),
        _forms(
            "airspace opacification:m|patchy infiltration:m|dense opacity with air-bronchograms:c"
            "|lobar pneumonic infiltrate:c"
        ),
        ("경화", "폐경화"),
        (),
        (RLL, RLL, RLL, LLL, LLL, RML, LING, RUL, LUL, BOTH, BOTH),
    ),
    "ground-glass opacity": Lesion(
        _forms(
            "ground glass opacity:c|ground-glass opacity:c|ground glass opacities:p"
            "|ground-glass opacities:p|ground-glass attenuation:m|ground glass density:m|GGO:c|GGOs:p"
        ),
        _forms(
            "opacities with a hazy increased attenuation:p|hazy opacity:c|hazy opacities:p"
            "|faint increased attenuation:m|patchy hazy densities:p"
        ),
        ("간유리음영", "간유리 음영"),
        (),
        (BOTH, BOTH, BOTH, RUL, RLL, LUL, LLL, RML, LING, RLUNG, LLUNG),
    ),
    "atelectasis": Lesion(
        _forms(
            "atelectasis:m|atelectatic change:m|atelectatic changes:p|subsegmental atelectasis:m"
            "|plate-like atelectasis:m|linear atelectasis:m|discoid atelectasis:m|lobar collapse:m"
        ),
        _forms("passive collapse:m|dependent density:m|volume loss with partial collapse:m|collapsed lung:m"),
        ("무기폐",),
        (),
        (RLL, RLL, LLL, LLL, BOTH, BOTH, RML, LING),
    ),
    "bronchiectasis": Lesion(
        _forms(
            "bronchiectasis:m|bronchiectatic change:m|bronchiectatic changes:p|traction bronchiectasis:m"
            "|cylindrical bronchiectasis:m"
        ),
        _forms("dilated bronchi:p|bronchial dilatation:m|varicoid dilatation of the bronchi:m"),
        ("기관지확장증", "기관지 확장"),
        (),
        (RML, RML, LING, LING, RLL, LLL, BOTH, BOTH),
    ),
    "bronchial wall thickening": Lesion(
        _forms(
            "bronchial wall thickening:m|peribronchial thickening:m|peribronchial wall thickening:m"
            "|peribronchial cuffing:m|thickened bronchial walls:p"
        ),
        _forms("airway wall thickening:m|thickened airway walls:p|bronchial thickening:m"),
        ("기관지벽 비후", "기관지벽비후"),
        (),
        (BOTH, BOTH, BOTH, RLL, LLL, RML),
    ),
    "interstitial thickening": Lesion(
        _forms(
            "interstitial thickening:m|interlobular septal thickening:m|septal thickening:m"
            "|smooth septal thickening:m|reticular opacities:p|reticulation:m|interstitial opacity:c"
        ),
        _forms("reticular change:m|septal lines:p|interstitial markings:p|fine reticular pattern:c"),
        ("간질 비후", "소엽간 중격 비후"),
        (),
        (BOTH, BOTH, BOTH, RLL, LLL),
    ),
    "fibrosis": Lesion(
        _forms(
            "fibrosis:m|fibrotic change:m|fibrotic changes:p|fibrotic sequelae:p|fibrotic band:c"
            "|fibrous band:c|parenchymal scarring:m|honeycombing:m"
        ),
        _forms(
            "fibrostreaky opacities:p|fibroproductive lesion:c|linear scar:c|old TB sequelae:p"
            "|scar-like lesion:c"
        ),
        ("섬유화", "섬유성 변화"),
        (),
        (RUL, RUL, LUL, LUL, BOTH, BOTH, RLL, LLL),
    ),
    "pleural effusion": Lesion(
        _forms("pleural effusion:m|pleural effusions:p|effusion:m|pleural fluid:m"),
        _forms("fluid collection in the pleural space:m|hydrothoraces:p"),
        ("흉수", "늑막 삼출", "흉막 삼출"),
        (),
        (),
        paired=False,
    ),
    "pleural thickening": Lesion(
        _forms("pleural thickening:m|thickened pleura:m|pleural plaque:c|pleural plaques:p"),
        _forms("pleural calcification:m|apical pleural cap:c|pleural-parenchymal scarring:m"),
        ("흉막 비후", "흉막비후"),
        (),
        (),
        paired=False,
    ),
}
LESION_KEYS = tuple(LESIONS)
PAIRED_LESIONS = tuple(k for k, v in LESIONS.items() if v.paired)

# Location surfaces: (text, takes "the"). Unseen ones are real but missing from the seed values.
LOCATIONS: dict[str, tuple[tuple[tuple[str, bool], ...], tuple[tuple[str, bool], ...], tuple[str, ...]]] = {
    RUL: (
        (
            ("right upper lobe", True),
            ("RUL", True),
            ("RUL", False),
            ("rt. upper lobe", True),
            ("Rt. upper lobe", True),
        ),
        (("right apex", True), ("apical segment of the right upper lobe", True), ("right upper lung", True)),
        ("우상엽", "RUL", "우측 상엽"),
    ),
    RML: (
        (
            ("right middle lobe", True),
            ("RML", True),
            ("RML", False),
            ("middle lobe", True),
            ("rt. middle lobe", True),
        ),
        (("medial segment of the RML", True), ("right middle lung", True)),
        ("우중엽", "RML", "우측 중엽"),
    ),
    RLL: (
        (
            ("right lower lobe", True),
            ("RLL", True),
            ("RLL", False),
            ("rt. lower lobe", True),
            ("right lung base", True),
        ),
        (("right base", True), ("posterior basal segment of the right lower lobe", True), ("Rt. base", True)),
        ("우하엽", "RLL", "우측 하엽"),
    ),
    LUL: (
        (
            ("left upper lobe", True),
            ("LUL", True),
            ("LUL", False),
            ("lt. upper lobe", True),
            ("Lt. upper lobe", True),
        ),
        (
            ("left apex", True),
            ("apicoposterior segment of the left upper lobe", True),
            ("left upper lung", True),
        ),
        ("좌상엽", "LUL", "좌측 상엽"),
    ),
    LING: (
        (("lingula", True), ("lingular segment", True), ("lingular division", True)),
        (("inferior lingular segment", True), ("lingular portion", True)),
        ("설상엽", "lingula"),
    ),
    LLL: (
        (
            ("left lower lobe", True),
            ("LLL", True),
            ("LLL", False),
            ("lt. lower lobe", True),
            ("left lung base", True),
        ),
        (("left base", True), ("superior segment of the left lower lobe", True), ("Lt. base", True)),
        ("좌하엽", "LLL", "좌측 하엽"),
    ),
    RLUNG: (
        (("right lung", True), ("rt. lung", True), ("Rt. lung", True), ("right hemithorax", True)),
        (("right side", True), ("right lung field", True)),
        ("우폐", "우측 폐", "Rt. lung"),
    ),
    LLUNG: (
        (("left lung", True), ("lt. lung", True), ("Lt. lung", True), ("left hemithorax", True)),
        (("left side", True), ("left lung field", True)),
        ("좌폐", "좌측 폐", "Lt. lung"),
    ),
    BOTH: (
        (
            ("both lungs", False),
            ("bilateral lungs", False),
        ),
        # Not "both lower lobes" or "both lung bases": those are the lobes of each side.
        (("both lung fields", False), ("both lung zones", False)),
        ("양폐", "양측 폐", "both lungs"),
    ),
    PLEURA: (
        (("pleura", True), ("pleural space", True)),
        (("pleural surface", True),),
        ("흉막", "늑막"),
    ),
    MEDI: (
        (("mediastinum", True), ("hilum", True), ("right hilum", True), ("left hilum", True), ("hila", True)),
        (("subcarinal area", True), ("right paratracheal area", True), ("AP window", True)),
        ("종격동", "폐문"),
    ),
}
LOCATION_KEYS = tuple(LOCATIONS)

NODULE_SIZES_MM = tuple(range(3, 31))
MASS_SIZES_CM = tuple(x / 10 for x in range(31, 96))
