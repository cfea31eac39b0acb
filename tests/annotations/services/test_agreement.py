"""Agreement figures against hand-computed values, and their loading from the database."""

import pytest
from django.urls import reverse

from annotations.services.agreement import Version, agreement_compute, agreement_for, cohen_kappa
from tests.annotations.factories import AssignmentFactory, MentionFactory, ReportFactory, entity_key
from tests.radreview.factories import UserFactory

FF, FT = (False, False), (False, True)
NODULE, RUL, CONSOLIDATION, MASS, RLL = 1, 2, 3, 4, 5


def v(keys, spans, pairs):
    return Version(frozenset(keys), spans, {k: frozenset(t) for k, t in pairs.items()})


# Four reports, A and B. See test_agreement_numbers_match_hand_computation for the arithmetic.
VERSIONS = [
    (
        v(
            {NODULE, CONSOLIDATION},
            {(NODULE, 0, 6): FF, (RUL, 10, 13): FF, (CONSOLIDATION, 20, 33): FF},
            {NODULE: {RUL}},
        ),
        v(
            {NODULE, CONSOLIDATION},
            {(NODULE, 0, 6): FF, (RUL, 10, 13): FT, (CONSOLIDATION, 20, 32): FF},
            {NODULE: {RUL}},
        ),
    ),
    (
        v({NODULE, CONSOLIDATION}, {(NODULE, 0, 6): FF, (CONSOLIDATION, 8, 21): FF}, {NODULE: {RLL}}),
        v({NODULE}, {(NODULE, 0, 6): FF}, {NODULE: {RUL}}),
    ),
    (v({CONSOLIDATION, MASS}, {(CONSOLIDATION, 0, 13): FF, (MASS, 20, 24): FF}, {}), v(set(), {}, {})),
    (v(set(), {}, {}), v({CONSOLIDATION}, {(CONSOLIDATION, 0, 13): FF}, {CONSOLIDATION: {RUL}})),
]
KEYS = [(NODULE, "nodule"), (RUL, "right upper lobe"), (CONSOLIDATION, "consolidation"), (MASS, "mass")]


def test_cohen_kappa_of_simple_cases():
    assert cohen_kappa([True, False], [True, False]) == 1.0
    assert cohen_kappa([True, True, False, False], [True, False, True, False]) == 0.0
    assert cohen_kappa([True, False], [False, True]) == -1.0
    assert cohen_kappa([False, False], [False, False]) is None  # chance agreement is 1
    assert cohen_kappa([], []) is None


def test_agreement_numbers_match_hand_computation():
    result = agreement_compute(versions=VERSIONS, keys=KEYS, pairable={NODULE, CONSOLIDATION, MASS})
    kappa = {k.name: k.kappa for k in result.keys}
    # nodule: A and B both on reports 1, 2 -> p_o = 1, p_e = .5 -> 1.
    assert kappa["nodule"] == pytest.approx(1.0)
    # consolidation: A on 1, 2, 3; B on 1, 4 -> p_o = 1/4; p_e = 3/4*1/2 + 1/4*1/2 = 1/2;
    # kappa = (1/4 - 1/2) / (1/2) = -1/2.
    assert kappa["consolidation"] == pytest.approx(-0.5)
    # mass: A on 3 only, B never -> p_o = 3/4, p_e = 3/4 -> 0.
    assert kappa["mass"] == pytest.approx(0.0)
    # right upper lobe: nobody "has" it -> undefined.
    assert kappa["right upper lobe"] is None
    cons = next(k for k in result.keys if k.name == "consolidation")
    assert (cons.both, cons.only_a, cons.only_b, cons.neither) == (1, 2, 1, 0)
    assert result.mean_kappa == pytest.approx((1.0 - 0.5 + 0.0) / 3)

    # Spans: A 7, B 5, exact matches 3 (report 1: nodule, RUL; report 2: nodule).
    assert (result.spans_a, result.spans_b, result.spans_matched) == (7, 5, 3)
    assert result.span_f1 == pytest.approx(2 * 3 / 12)
    assert result.span_precision == pytest.approx(3 / 5)
    assert result.span_recall == pytest.approx(3 / 7)
    assert result.assertion_agreement == pytest.approx(2 / 3)  # RUL on report 1: uncertain only in B

    # Pairs: findings both marked = report 1 nodule (equal), consolidation (equal: none),
    # report 2 nodule (RLL vs RUL) -> 2 of 3; triples A 2, B 2, matched 1 -> F1 1/2.
    assert (result.pair_findings, result.pair_equal) == (3, 2)
    assert result.pair_agreement == pytest.approx(2 / 3)
    assert result.pair_f1 == pytest.approx(0.5)
    assert [(p.name, p.findings, p.equal) for p in result.pair_keys] == [
        ("nodule", 2, 1),
        ("consolidation", 1, 1),
    ]


def test_agreement_for_loads_both_versions_from_the_database(annotator):
    other = UserFactory(username="ann-2")
    other.groups.add(*annotator.groups.all())
    nodule, rul, rll = entity_key("nodule"), entity_key("right upper lobe"), entity_key("right lower lobe")
    text = "Nodule in RUL and RLL. No effusion."
    for i, (b_target, b_negated) in enumerate([(rul, False), (rll, True)]):
        report = ReportFactory(text=text, external_id=f"double-{i}")
        a = AssignmentFactory(report=report, annotator=annotator, status="submitted")
        b = AssignmentFactory(report=report, annotator=other, status="submitted")
        for version, target, negated in ((a, rul, False), (b, b_target, b_negated)):
            source = MentionFactory(assignment=version, key=nodule, start=0, end=6, negated=negated)
            loc = MentionFactory(
                assignment=version,
                key=target,
                start=10 if target == rul else 18,
                end=13 if target == rul else 21,
            )
            version.relations.create(
                report=report, source_key=nodule, target_key=target, source_mention=source, target_mention=loc
            )
    AssignmentFactory(
        report=ReportFactory(text=text), annotator=annotator, status="submitted"
    )  # single: ignored
    result = agreement_for(modality=nodule.entity_type.modality, annotator_a=annotator, annotator_b=other)
    assert result.reports == 2
    by_name = {k.name: k for k in result.keys}
    # A has nodule on both reports; B only on the first (negated on the second).
    assert (by_name["nodule"].both, by_name["nodule"].only_a) == (1, 1)
    assert by_name["nodule"].kappa == pytest.approx(0.0)
    assert (result.spans_a, result.spans_b, result.spans_matched) == (4, 4, 3)
    assert (result.pair_findings, result.pair_equal) == (1, 1)


def test_agreement_page_and_api_are_for_admins(client, annotator, clinician, admin_user):
    for user in (annotator, clinician):
        client.force_login(user)
        assert client.get(reverse("annotations:agreement")).status_code == 403
        assert client.get("/api/agreement/", {"modality": "chest_ct"}).status_code == 403
    client.force_login(admin_user)
    assert client.get(reverse("annotations:agreement")).status_code == 200
