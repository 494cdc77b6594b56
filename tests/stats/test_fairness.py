"""Approval parity: every group's rate, the adverse impact ratio and the four-fifths flag."""
import numpy as np
import pandas as pd
import pytest

from webapp.stats.fairness import MISSING, NOT_RECOGNISED, ParityTally, parity


def tally_of(values, approved, scored=None, categories=("A", "B", NOT_RECOGNISED)):
    tally = ParityTally()
    approved = np.asarray(approved, dtype=bool)
    scored = np.ones(len(approved), dtype=bool) if scored is None else np.asarray(scored, dtype=bool)
    tally.add("Attr", pd.Categorical(values, categories=list(categories)), approved, scored)
    return tally


def test_rates_and_ratio_match_a_hand_computation():
    # A: 40 rows, 30 approved (0.75); B: 50 rows, 25 approved (0.50); ratio 0.50 / 0.75 = 0.6667
    values = ["A"] * 40 + ["B"] * 50
    approved = [True] * 30 + [False] * 10 + [True] * 25 + [False] * 25
    report = tally_of(values, approved).report()["Attr"]
    assert report["groups"]["A"] == {"rows": 40, "approved": 30, "approval_rate": 0.75}
    assert report["groups"]["B"] == {"rows": 50, "approved": 25, "approval_rate": 0.5}
    assert report["adverse_impact_ratio"] == round(0.5 / 0.75, 4)
    assert report["flagged"] is True and report["judged_groups"] == 2


def test_within_four_fifths_is_not_flagged():
    values = ["A"] * 40 + ["B"] * 40
    approved = [True] * 30 + [False] * 10 + [True] * 25 + [False] * 15  # 0.625 / 0.75 = 0.833
    report = tally_of(values, approved).report()["Attr"]
    assert report["adverse_impact_ratio"] == 0.8333 and report["flagged"] is False


def test_groups_under_thirty_rows_are_listed_but_not_judged():
    values = ["A"] * 40 + ["B"] * 29
    approved = [True] * 40 + [False] * 29  # B's rate is 0, but 29 rows are too few to judge
    report = tally_of(values, approved).report()["Attr"]
    assert report["groups"]["B"]["rows"] == 29
    assert report["adverse_impact_ratio"] is None and report["flagged"] is False and report["judged_groups"] == 1


def test_missing_and_unrecognised_values_are_their_own_groups_and_never_judged():
    values = ["A"] * 40 + ["B"] * 40 + [None] * 40 + [NOT_RECOGNISED] * 40
    approved = [True] * 40 + [True] * 40 + [False] * 80
    report = tally_of(values, approved).report()["Attr"]
    assert list(report["groups"]) == ["A", "B", MISSING, NOT_RECOGNISED]
    assert report["groups"][MISSING]["rows"] == 40
    assert report["adverse_impact_ratio"] == 1.0 and report["flagged"] is False


def test_only_scored_rows_count():
    report = tally_of(["A", "A", "B"], [True, False, False], scored=[True, False, True]).report()["Attr"]
    assert report["groups"] == {"A": {"rows": 1, "approved": 1, "approval_rate": 1.0},
                                "B": {"rows": 1, "approved": 0, "approval_rate": 0.0}}


def test_tallies_merge_exactly_across_chunks():
    rng = np.random.default_rng(0)
    values = rng.choice(["A", "B", None], size=500)
    approved = rng.random(500) < 0.6
    whole = tally_of(values, approved)
    merged = ParityTally()
    for start in range(0, 500, 70):
        merged.merge(tally_of(values[start:start + 70], approved[start:start + 70]))
    assert merged.report() == whole.report()


@pytest.mark.parametrize(("groups", "ratio", "flagged"), [
    ({"A": [100, 50], "B": [100, 39]}, 0.78, True),
    ({"A": [100, 50], "B": [100, 40]}, 0.8, False),
    ({"A": [100, 0], "B": [100, 0]}, 1.0, False),
])
def test_the_four_fifths_line(groups, ratio, flagged):
    report = parity(groups)
    assert report["adverse_impact_ratio"] == ratio and report["flagged"] is flagged


@pytest.mark.parametrize("rows", [1, 7, 64])
def test_a_few_rows_are_tallied_as_many_are(rows, monkeypatch):
    from webapp.stats import fairness

    rng = np.random.default_rng(rows)
    values = list(rng.choice(["A", "B", NOT_RECOGNISED, None], size=rows))
    approved, scored = rng.random(rows) < 0.6, rng.random(rows) < 0.8
    few = tally_of(values, approved, scored).counts
    monkeypatch.setattr(fairness, "FEW_VALUES", 0)
    many = tally_of(values, approved, scored).counts
    assert few == many and [list(g) for g in few.values()] == [list(g) for g in many.values()]
