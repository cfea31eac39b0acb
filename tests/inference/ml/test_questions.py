"""What a question type is worth: asked, answered, changed, right, wrong."""

import pytest

from inference.ml.questions import (
    LOCATION,
    STATUS_DISAGREE,
    QuestionPolicy,
    helpful_types,
    question_help,
)


def record(kind, key, before, after, *, asked=True, quote_found=True):
    changed = before != after
    return {
        "kind": kind,
        "key": key,
        "asked": asked,
        "quote_found": quote_found,
        "changed": changed,
        "before": before,
        "after": after,
    }


def test_location_changes_count_right_when_closer_to_gold_and_wrong_when_further():
    gold = {"lesions": {"nodule": {"status": "present", "locations": ["right upper lobe"]}}}
    empty = {"status": "present", "locations": []}
    records = [
        [record(LOCATION, "nodule", empty, {"status": "present", "locations": ["right upper lobe"]})],
        [record(LOCATION, "nodule", empty, {"status": "present", "locations": ["left lower lobe"]})],
        [record(LOCATION, "nodule", empty, empty)],
    ]
    help = question_help(records, [gold, gold, gold])[LOCATION]
    assert (help["asked"], help["answered"], help["changed"]) == (3, 3, 2)
    assert (help["right"], help["wrong"], help["helps"]) == (1, 0, True)


def test_a_status_change_away_from_gold_is_wrong():
    gold = {"lesions": {"pleural effusion": {"status": "negated", "locations": []}}}
    records = [
        [
            record(
                STATUS_DISAGREE,
                "pleural effusion",
                {"status": "negated", "locations": []},
                {"status": "present", "locations": []},
            )
        ]
    ]
    help = question_help(records, [gold])
    assert (help[STATUS_DISAGREE]["right"], help[STATUS_DISAGREE]["wrong"]) == (0, 1)
    assert helpful_types(help) == frozenset()


def test_questions_held_back_by_the_policy_are_not_counted_as_asked():
    same = {"status": "present", "locations": []}
    help = question_help([[record(LOCATION, "nodule", same, same, asked=False)]], [None])
    assert help[LOCATION]["asked"] == 0


def test_a_policy_names_its_types_in_run_keys_and_refuses_unknown_ones():
    assert QuestionPolicy.of([LOCATION]).key() == "q:location"
    assert QuestionPolicy.of([]).key() == "q:none"
    with pytest.raises(ValueError, match="unknown question type"):
        QuestionPolicy.of(["everything"])
