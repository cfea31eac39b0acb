"""The one location normalisation (LABELLING.md section 4), on the default tree."""

import pytest

from inference.ml.defaults import default_ruleset
from inference.ml.text.location_keys import LocationTree, normalise_locations

TREE = default_ruleset().location_tree


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        # "both lungs" goes when lobes of both sides are named.
        (["both lungs", "right upper lobe", "left lower lobe"], ["right upper lobe", "left lower lobe"]),
        (["both lungs", "right middle lobe", "lingula"], ["right middle lobe", "lingula"]),
        # "Nodules in both lungs, the largest in the RUL" keeps both.
        (["both lungs", "right upper lobe"], ["both lungs", "right upper lobe"]),
        # A lung next to a lobe of its side says nothing more.
        (["right lung", "right lower lobe"], ["right lower lobe"]),
        (["left lung", "lingula"], ["lingula"]),
        (["left lung", "right lower lobe"], ["left lung", "right lower lobe"]),
        # A side beside "both lungs" adds nothing.
        (["right lung", "both lungs"], ["both lungs"]),
        (["right lung", "left lung"], ["right lung", "left lung"]),
        # Keys outside the tree pass; duplicates go; order is kept.
        (["pleura", "lingula", "pleura", "left lung"], ["pleura", "lingula"]),
        (["mediastinum/hilum", "left lung"], ["mediastinum/hilum", "left lung"]),
        ([], []),
    ],
)
def test_default_tree_normalises_as_the_labelling_conventions_say(keys, expected):
    assert TREE.normalise(keys) == expected


def test_an_empty_tree_only_removes_duplicates():
    assert normalise_locations(["right lung", "right upper lobe", "right lung"], None) == [
        "right lung",
        "right upper lobe",
    ]


def test_a_cycle_in_admin_data_does_not_loop():
    tree = LocationTree.from_parents({"a": "b", "b": "a", "c": "a"})
    assert set(tree.normalise(["a", "b", "c"])) <= {"a", "b", "c"}


@pytest.mark.parametrize(
    ("keys", "ticked", "expected"),
    [
        # The ticked lung replaces the lobes under it.
        (["right upper lobe", "right lung"], "right lung", ["right lung"]),
        (["right upper lobe", "left lower lobe", "both lungs"], "both lungs", ["both lungs"]),
        # The ticked lobe: plain normalisation already drops its lung.
        (["left lung", "lingula"], "lingula", ["lingula"]),
        # A side ticked beside "both lungs" replaces it.
        (["both lungs", "left lower lobe", "right lung"], "right lung", ["left lower lobe", "right lung"]),
        # A tick that normalisation keeps changes nothing else.
        (["both lungs", "right upper lobe"], "right upper lobe", ["both lungs", "right upper lobe"]),
    ],
)
def test_the_ticked_key_survives_normalisation(keys, ticked, expected):
    assert TREE.normalise_keeping(keys, ticked) == expected
