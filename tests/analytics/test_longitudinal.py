"""Sankey counts of the method's Figure 4 on a small constructed cohort."""

from datetime import date

from analytics.longitudinal import Node, ReportEpisodes, cohort_transitions, collapse

PRO, STA, IMP = "progression", "stable", "improvement"


def _reports(*items, verified=False):
    """items: (day, {diagnosis: episode}) in any order; ids follow the order given."""
    source = "verified" if verified else "predicted"
    return [ReportEpisodes(i + 1, date(2020, 1, day), eps, source) for i, (day, eps) in enumerate(items)]


def _counts(result):
    return {(k.diagnosis, k.source.name, k.target.name): k.count for k in result.links}


def test_collapse_counts_a_step_only_when_the_episode_changes_and_stops_after_four_changes():
    assert collapse([PRO, PRO, STA, STA, STA, PRO]) == (PRO, STA, PRO)
    assert collapse([PRO, STA, PRO, STA, PRO, STA, PRO]) == (PRO, STA, PRO, STA, PRO)  # t0..t4
    assert collapse([]) == ()


COHORT = {
    # metastasis, dates out of order: sorted to PRO, PRO, STA, IMP -> PRO, STA, IMP
    "a": _reports(
        (5, {"metastasis": STA}), (1, {"metastasis": PRO}), (3, {"metastasis": PRO}), (9, {"metastasis": IMP})
    ),
    # metastasis PRO, STA, PRO
    "b": _reports((1, {"metastasis": PRO}), (2, {"metastasis": STA}), (3, {"metastasis": PRO})),
    # glioma stays stable: only t0
    "c": _reports((1, {"glioma": STA}), (2, {"glioma": STA}), (3, {"glioma": STA})),
    # only two reports: excluded by the >= 3 filter
    "d": _reports((1, {"lymphoma": IMP}), (2, {"lymphoma": PRO})),
    # two diagnoses: excluded by the single-diagnosis filter
    "e": _reports((1, {"glioma": PRO}), (2, {"metastasis": PRO}), (3, {"glioma": STA}), (4, {"glioma": IMP})),
    # a report without an episode does not count towards the three
    "f": _reports((1, {"lymphoma": IMP}), (2, {"lymphoma": None}), (3, {"lymphoma": PRO}), (4, {})),
    # lymphoma with six changes: cut after four
    "g": _reports(
        *[(d, {"lymphoma": e}) for d, e in enumerate([IMP, PRO, IMP, PRO, IMP, PRO, IMP], start=1)]
    ),
}


def test_cohort_links_with_the_method_filters():
    result = cohort_transitions(COHORT)
    assert sorted((p.patient_id, p.diagnosis, p.states) for p in result.paths) == [
        ("a", "metastasis", (PRO, STA, IMP)),
        ("b", "metastasis", (PRO, STA, PRO)),
        ("c", "glioma", (STA,)),
        ("g", "lymphoma", (IMP, PRO, IMP, PRO, IMP)),
    ]
    assert _counts(result) == {
        ("metastasis", "metastasis", "t0 progression"): 2,
        ("metastasis", "t0 progression", "t1 stable"): 2,
        ("metastasis", "t1 stable", "t2 improvement"): 1,
        ("metastasis", "t1 stable", "t2 progression"): 1,
        ("glioma", "glioma", "t0 stable"): 1,
        ("lymphoma", "lymphoma", "t0 improvement"): 1,
        ("lymphoma", "t0 improvement", "t1 progression"): 1,
        ("lymphoma", "t1 progression", "t2 improvement"): 1,
        ("lymphoma", "t2 improvement", "t3 progression"): 1,
        ("lymphoma", "t3 progression", "t4 improvement"): 1,
    }
    assert result.n_patients == 4
    assert result.excluded == {"fewer than 3 reports": 2, "more than one diagnosis": 1}
    # nodes: the three diagnoses first, then states in time order
    assert result.nodes()[:3] == [Node(-1, "glioma"), Node(-1, "lymphoma"), Node(-1, "metastasis")]
    assert result.nodes()[-1] == Node(4, IMP)


def test_without_the_single_diagnosis_filter_each_diagnosis_is_its_own_path():
    result = cohort_transitions({"e": COHORT["e"]}, single_diagnosis=False)
    assert [(p.diagnosis, p.states) for p in result.paths] == [
        ("glioma", (PRO, STA, IMP))
    ]  # metastasis: 1 report


def test_min_reports_is_adjustable():
    result = cohort_transitions({"d": COHORT["d"]}, min_reports=2)
    assert _counts(result) == {
        ("lymphoma", "lymphoma", "t0 improvement"): 1,
        ("lymphoma", "t0 improvement", "t1 progression"): 1,
    }


def test_verified_only_keeps_only_verified_reports():
    verified = _reports((1, {"glioma": PRO}), (2, {"glioma": STA}), verified=True)
    mixed = [*verified, ReportEpisodes(10, date(2020, 2, 1), {"glioma": IMP}, "predicted")]
    assert [p.states for p in cohort_transitions({"x": mixed}, min_reports=2).paths] == [(PRO, STA, IMP)]
    assert [p.states for p in cohort_transitions({"x": mixed}, min_reports=2, verified_only=True).paths] == [
        (PRO, STA)
    ]


def test_undated_reports_go_last():
    reports = [
        ReportEpisodes(1, None, {"glioma": IMP}),
        ReportEpisodes(2, date(2021, 1, 1), {"glioma": PRO}),
        ReportEpisodes(3, date(2020, 1, 1), {"glioma": STA}),
    ]
    assert cohort_transitions({"x": reports}).paths[0].states == (STA, PRO, IMP)
