"""The report-level gold summary ("gold" of a gold file), derived from mentions and pairs.

Rules (the same an annotator applies when summarising spans):

* a mention's status is "negated", "uncertain" (hedged) or "present";
* a key's status is "present" if any mention of it is present, else "uncertain"
  if any is hedged, else "negated" ("Old lacunar infarcts. No acute infarction."
  gives stroke/infarction present);
* a lesion's locations (a diagnosis's episode) come from the pairs of the
  mentions whose status equals the key's status, in order of first appearance;
  pleural effusion and pleural thickening never have locations;
* brain MRI: "other non-tumor" is also present when one of its detail keys is;
  "non_tumor" lists the detail keys that are present, in schema order; malignant
  diagnoses (glioma, lymphoma, metastasis) carry "episode" (null when negated),
  other diagnoses carry none.
* a report has no findings when no finding key is present or uncertain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inference.ml.defaults import default_keys

LESION_KEYS = default_keys("chest_ct", "Lesion")
MALIGNANT = ("glioma", "lymphoma", "metastasis")
DIAGNOSES = (*MALIGNANT, "non-malignant tumor", "other non-tumor")
NON_TUMOR = ("demyelinating", "hemorrhage/vascular lesion", "infection/inflammation", "stroke/infarction")
_RANK = {"present": 2, "uncertain": 1, "negated": 0}

Mention = tuple[str, int, int, str, bool, bool, int]  # key, start, end, text, negated, uncertain, sentence


def mention_status(negated: bool, uncertain: bool) -> str:
    return "negated" if negated else "uncertain" if uncertain else "present"


def _statuses(mentions: Sequence[Mention], keys: Sequence[str]) -> dict[str, str]:
    wanted = set(keys)
    best: dict[str, str] = {}
    for m in mentions:
        if m[0] in wanted:
            status = mention_status(m[4], m[5])
            if m[0] not in best or _RANK[status] > _RANK[best[m[0]]]:
                best[m[0]] = status
    return best


def _targets(mentions: Sequence[Mention], pairs: dict[int, list[int]], key: str, status: str) -> list[str]:
    out: list[str] = []
    for source in sorted(pairs):
        m = mentions[source]
        if m[0] == key and mention_status(m[4], m[5]) == status:
            for target in pairs[source]:
                name = mentions[target][0]
                if name not in out:
                    out.append(name)
    return out


def chest_gold(mentions: Sequence[Mention], pairs: dict[int, list[int]]) -> dict[str, Any]:
    statuses = _statuses(mentions, LESION_KEYS)
    lesions = {}
    for key in _first_seen(mentions, statuses):
        status = statuses[key]
        lesions[key] = {"status": status, "locations": _targets(mentions, pairs, key, status)}
    return {"lesions": lesions}


def brain_gold(mentions: Sequence[Mention], pairs: dict[int, list[int]]) -> dict[str, Any]:
    statuses = _statuses(mentions, (*DIAGNOSES, *NON_TUMOR))
    details = [k for k in NON_TUMOR if k in statuses]
    if details:
        group = max((statuses[k] for k in details), key=_RANK.__getitem__)
        own = statuses.get("other non-tumor")
        statuses["other non-tumor"] = group if own is None or _RANK[group] > _RANK[own] else own
    diagnoses: dict[str, dict[str, Any]] = {}
    for key in DIAGNOSES:
        if key not in statuses:
            continue
        status = statuses[key]
        entry: dict[str, Any] = {"status": status}
        if key in MALIGNANT:
            episodes = _targets(mentions, pairs, key, status) if status != "negated" else []
            entry["episode"] = episodes[0] if episodes else None
        diagnoses[key] = entry
    return {"diagnoses": diagnoses, "non_tumor": [k for k in details if statuses[k] == "present"]}


def has_findings(gold: dict[str, Any]) -> bool:
    entries = gold.get("lesions") or gold.get("diagnoses") or {}
    return any(e["status"] != "negated" for e in entries.values())


def _first_seen(mentions: Sequence[Mention], keys: dict[str, str]) -> list[str]:
    out: list[str] = []
    for m in mentions:
        if m[0] in keys and m[0] not in out:
            out.append(m[0])
    return out
