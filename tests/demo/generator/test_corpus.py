"""The demo corpus generator: deterministic, well-formed gold, and the variety it promises.

The checks here re-derive what they check (schema from the JSON file, sentences
with their own splitter, gold from the spans) instead of trusting the generator.
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
from collections import Counter, defaultdict

import pytest

from annotations.services.schema import DEFAULT_SCHEMA_PATH
from demo.generator.corpus import generate_reports, write_jsonl

SCHEMA = json.loads(DEFAULT_SCHEMA_PATH.read_text(encoding="utf-8"))
HANGUL = re.compile("[가-힣]")
STATUS_RANK = {"negated": 0, "uncertain": 1, "present": 2}
MALIGNANT = {"glioma", "lymphoma", "metastasis"}


def _schema_keys() -> dict[str, dict[str, dict]]:
    """modality -> key name -> {"type", "role", "pairs_with", "values", "regex", "parent"}."""
    out: dict[str, dict[str, dict]] = {}
    for modality in SCHEMA["modalities"]:
        keys = out.setdefault(modality["code"], {})
        for etype in modality["entity_types"]:
            for key in etype["keys"]:
                pairs = key.get("pairs_with", etype.get("pairs_with")) if key.get("pair", True) else None
                keys[key["name"]] = {
                    "type": etype["name"],
                    "role": etype["role"],
                    "pairs_with": pairs,
                    "values": key.get("values", []),
                    "regex": key.get("regex", []),
                    "parent": key.get("parent"),
                }
    return out


KEYS = _schema_keys()


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    return list(generate_reports(n=2000, seed=11))


def _status(m: dict) -> str:
    return "negated" if m["negated"] else "uncertain" if m["uncertain"] else "present"


# A sentence ends at a newline, or at . ? ! and a space unless the word before is an
# abbreviation ("Lt. pleural effusion") or an impression number ("1. Nodule ...").
_BOUNDARY = re.compile(r"\n+|(?<=[.?!])[ \t]+")
_ABBREVIATIONS = {"lt", "rt", "vs", "e.g", "i.e"}


def _sentence_starts(text: str) -> list[int]:
    starts = [0]
    for m in _BOUNDARY.finditer(text):
        if m.group()[0] != "\n":
            words = text[starts[-1] : m.start() - 1].split()
            last = words[-1].lower().lstrip("(") if words else ""
            if last in _ABBREVIATIONS or last.isdigit():
                continue
        starts.append(m.end())
    return starts


def _crosses_sentences(rec: dict) -> bool:
    starts = _sentence_starts(rec["text"])
    sentence = [bisect.bisect_right(starts, m["start"]) for m in rec["mentions"]]
    return any(sentence[p["source"]] != sentence[t] for p in rec["pairs"] for t in p["targets"])


# -- determinism and shape ------------------------------------------------------------


def test_same_seed_and_n_give_byte_identical_files_and_other_seeds_differ(tmp_path):
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    assert write_jsonl(a, n=300, seed=7) == 300
    write_jsonl(b, n=300, seed=7)
    write_jsonl(c, n=300, seed=8)

    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    lines = a.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == list(generate_reports(n=300, seed=7))


def test_n_reports_with_unique_ids_split_about_60_40_between_modalities(corpus):
    assert len(corpus) == 2000
    assert len({r["id"] for r in corpus}) == 2000
    counts = Counter(r["modality"] for r in corpus)
    assert counts == {"chest_ct": 1200, "brain_mri": 800}
    assert {r["id"][:3] for r in corpus} == {"ct-", "mr-"}


def test_one_modality_can_be_asked_for_and_bad_arguments_are_refused():
    assert {r["modality"] for r in generate_reports(n=50, seed=1, modalities=("brain_mri",))} == {"brain_mri"}
    assert len(list(generate_reports(n=7, seed=1, modalities=("chest_ct",)))) == 7
    with pytest.raises(ValueError, match="modalities"):
        list(generate_reports(n=5, modalities=("xray",)))


def test_reports_have_findings_and_impression_sections(corpus):
    for rec in corpus:
        text = rec["text"]
        assert re.search(r"(?m)^(FINDINGS|Findings)\s?:", text), rec["id"]
        assert re.search(r"(?m)^(IMPRESSION|Impression|CONCLUSION|Conclusion):", text), rec["id"]
        assert text == text.strip()


# -- spans, keys and pairs -------------------------------------------------------------


def test_every_mention_cuts_out_its_text_and_names_a_key_of_its_modality(corpus):
    for rec in corpus:
        keys = KEYS[rec["modality"]]
        for m in rec["mentions"]:
            assert rec["text"][m["start"] : m["end"]] == m["text"], (rec["id"], m)
            assert m["key"] in keys, (rec["id"], m["key"])
            assert not (m["negated"] and m["uncertain"])


def test_pairs_go_from_a_pairable_finding_to_a_location_or_episode_of_the_right_type(corpus):
    n_pairs = 0
    for rec in corpus:
        keys = KEYS[rec["modality"]]
        mentions = rec["mentions"]
        for pair in rec["pairs"]:
            source = keys[mentions[pair["source"]]["key"]]
            assert source["role"] == "finding" and source["pairs_with"], (rec["id"], pair)
            assert pair["targets"]
            for t in pair["targets"]:
                target = keys[mentions[t]["key"]]
                assert target["type"] == source["pairs_with"], (rec["id"], pair)
                n_pairs += 1
        targeted = {t for pair in rec["pairs"] for t in pair["targets"]}
        for i, m in enumerate(mentions):
            if keys[m["key"]]["role"] in ("location", "episode"):
                assert i in targeted, (rec["id"], m)  # labelled only as the target of a pair
    assert n_pairs > 1000


def test_gold_summary_agrees_with_the_mentions_and_pairs(corpus):
    for rec in corpus:
        by_key: dict[str, list[int]] = defaultdict(list)
        for i, m in enumerate(rec["mentions"]):
            by_key[m["key"]].append(i)
        targets = {p["source"]: p["targets"] for p in rec["pairs"]}
        entries = rec["gold"]["lesions"] if "lesions" in rec["gold"] else rec["gold"]["diagnoses"]
        for name, entry in entries.items():
            names = [name]
            if name == "other non-tumor":  # present also through its detail keys
                names += [k for k, v in KEYS["brain_mri"].items() if v["parent"] == "other non-tumor"]
            statuses = [_status(rec["mentions"][i]) for n in names for i in by_key[n]]
            assert statuses, (rec["id"], name)
            assert entry["status"] == max(statuses, key=STATUS_RANK.__getitem__), (rec["id"], name)
            linked = {
                rec["mentions"][t]["key"]
                for i in by_key[name]
                if _status(rec["mentions"][i]) == entry["status"]
                for t in targets.get(i, [])
            }
            if "locations" in entry:
                assert set(entry["locations"]) == linked, (rec["id"], name)
            elif name in MALIGNANT:
                assert linked == ({entry["episode"]} if entry["episode"] else set()), (rec["id"], name)
        finding_keys = {
            m["key"] for m in rec["mentions"] if KEYS[rec["modality"]][m["key"]]["role"] == "finding"
        }
        assert finding_keys <= set(entries), rec["id"]


def test_pleural_effusion_and_thickening_are_never_paired(corpus):
    for rec in corpus:
        for pair in rec["pairs"]:
            assert rec["mentions"][pair["source"]]["key"] not in {"pleural effusion", "pleural thickening"}
        for name in ("pleural effusion", "pleural thickening"):
            if name in rec["gold"].get("lesions", {}):
                assert rec["gold"]["lesions"][name]["locations"] == []


def test_every_malignant_diagnosis_that_is_not_negated_has_an_episode(corpus):
    seen = Counter()
    for rec in corpus:
        for name, entry in rec["gold"].get("diagnoses", {}).items():
            if name in MALIGNANT:
                assert (entry["episode"] is None) == (entry["status"] == "negated"), (rec["id"], name)
                seen[entry["episode"]] += 1
            else:
                assert "episode" not in entry
        non_tumor = rec["gold"].get("non_tumor", [])
        assert all(KEYS["brain_mri"][k]["role"] == "detail" for k in non_tumor)
    assert {"progression", "stable", "improvement"} <= set(seen)


def test_no_findings_flag_matches_the_gold(corpus):
    for rec in corpus:
        entries = rec["gold"].get("lesions") or rec["gold"].get("diagnoses") or {}
        assert rec["meta"]["no_findings"] == all(e["status"] == "negated" for e in entries.values())


# -- the variety the corpus promises ---------------------------------------------------


def test_about_a_fifth_of_reports_mix_in_korean_and_the_rest_are_english_only(corpus):
    korean = [r for r in corpus if HANGUL.search(r["text"])]
    assert 0.12 <= len(korean) / len(corpus) <= 0.30
    assert all(r["meta"]["korean"] == bool(HANGUL.search(r["text"])) for r in corpus)
    korean_mentions = [m for r in korean for m in r["mentions"] if HANGUL.search(m["text"])]
    assert {m["key"] for m in korean_mentions} >= {"nodule", "pleural effusion", "metastasis", "progression"}


def test_some_reports_have_no_findings(corpus):
    empty = [r for r in corpus if r["meta"]["no_findings"]]
    assert 0.08 <= len(empty) / len(corpus) <= 0.20
    assert any(not r["mentions"] for r in empty)  # nothing labelled at all
    assert any(r["mentions"] for r in empty)  # only negated keys ("No pleural effusion.")
    assert {r["modality"] for r in empty} == {"chest_ct", "brain_mri"}


def test_enough_chest_ct_pairs_cross_sentences_so_same_sentence_rules_miss_them(corpus):
    chest = [r for r in corpus if r["modality"] == "chest_ct"]
    crossing = [r for r in chest if _crosses_sentences(r)]
    assert len(crossing) / len(chest) >= 0.05
    assert all(_crosses_sentences(r) == r["meta"]["cross_sentence_location"] for r in corpus)


def test_reports_have_several_lesions_and_lesions_several_locations(corpus):
    chest = [r for r in corpus if r["modality"] == "chest_ct"]
    many_lesions = [
        r for r in chest if sum(e["status"] != "negated" for e in r["gold"]["lesions"].values()) >= 2
    ]
    many_places = [r for r in chest if any(len(e["locations"]) >= 2 for e in r["gold"]["lesions"].values())]
    assert len(many_lesions) / len(chest) > 0.3
    assert len(many_places) / len(chest) > 0.2


def test_negation_hedging_and_abbreviations_appear_in_many_forms(corpus):
    text = "\n".join(r["text"] for r in corpus)
    for phrase in (
        "No pleural effusion",
        "No evidence of",
        "without",
        "is not seen",
        "was not detected",
        "Negative for",
        "has resolved",
        "no longer seen",
        "없음",
        "보이지 않음",
        "Cannot exclude",
        "r/o",
        "Possible",
        "suggestive of",
        "RUL",
        "Lt.",
        "both lungs",
        "mets",
        "GBM",
        "(Se 3, Im ",
        "Compared with the prior",
    ):
        assert phrase in text, phrase
    statuses = Counter(_status(m) for r in corpus for m in r["mentions"])
    assert statuses["negated"] / sum(statuses.values()) > 0.1
    assert statuses["uncertain"] / sum(statuses.values()) > 0.02


def test_the_lexicon_is_incomplete_some_mentions_match_no_entity_value(corpus):
    def matches(modality: str, m: dict) -> bool:
        key = KEYS[modality][m["key"]]
        words = [rf"(?<!\w){re.escape(v)}(?!\w)" for v in key["values"]]
        return any(re.search(p, m["text"], re.IGNORECASE) for p in words + key["regex"])

    mentions = [(r["modality"], m) for r in corpus for m in r["mentions"]]
    unseen = [m["text"] for modality, m in mentions if not matches(modality, m)]
    assert 0.02 < len(unseen) / len(mentions) < 0.35
    assert "opacities with a hazy increased attenuation" in unseen


# -- patients over time ----------------------------------------------------------------


def test_brain_mri_patients_have_three_or_more_studies_in_date_order_each_comparing_with_the_last(corpus):
    series: dict[str, list[dict]] = defaultdict(list)
    for rec in corpus:
        if rec["modality"] == "brain_mri":
            series[rec["patient_id"]].append(rec)
    assert len(series) > 100
    for studies in series.values():
        assert len(studies) >= 3
        dates = [s["study_datetime"] for s in studies]
        assert dates == sorted(dates) and len(set(dates)) == len(dates)
        assert all("2015-01-01" <= d < "2025-01-01" for d in dates)
        for prior, study in itertools.pairwise(studies):
            assert prior["study_datetime"][:10] in study["text"]


def test_chest_ct_patients_have_one_to_three_studies(corpus):
    per_patient = Counter(r["patient_id"] for r in corpus if r["modality"] == "chest_ct")
    assert set(per_patient.values()) <= {1, 2, 3}
    assert {1, 2, 3} <= set(per_patient.values())
    brain = {r["patient_id"] for r in corpus if r["modality"] == "brain_mri"}
    assert not brain & set(per_patient)


_SIZES = re.compile(r"now (\d+\.\d) cm, previously (\d+\.\d) cm|from (\d+\.\d) cm to (\d+\.\d) cm")


def test_tumor_sizes_written_in_the_report_follow_the_episode(corpus):
    checked = Counter()
    for rec in corpus:
        for name, entry in rec["gold"].get("diagnoses", {}).items():
            if name not in MALIGNANT or not entry["episode"]:
                continue
            for m in _SIZES.finditer(rec["text"]):
                now, before = (float(m[1]), float(m[2])) if m[1] else (float(m[4]), float(m[3]))
                expected = {"progression": now > before, "improvement": now < before, "stable": now == before}
                assert expected[entry["episode"]], (rec["id"], entry, m.group())
                checked[entry["episode"]] += 1
    assert min(checked.values()) > 10


def test_episodes_follow_each_other_within_a_patients_series(corpus):
    transitions = Counter()
    last: dict[str, str | None] = {}
    for rec in corpus:
        for name, entry in rec["gold"].get("diagnoses", {}).items():
            if name in MALIGNANT and entry["episode"]:
                transitions[(last.get(rec["patient_id"]), entry["episode"])] += 1
                last[rec["patient_id"]] = entry["episode"]
    for before in ("progression", "stable", "improvement"):
        for after in ("progression", "stable", "improvement"):
            assert transitions[(before, after)] > 0, (before, after)
