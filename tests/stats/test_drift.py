"""Drift: the Population Stability Index per feature against the training distribution."""
import math

import numpy as np
import pandas as pd
import pytest

from webapp.stats.drift import DriftTally, level, number_bins, psi, training_distribution


def test_psi_matches_a_hand_computation():
    expected, actual = [0.5, 0.3, 0.2], [0.3, 0.3, 0.4]
    by_hand = (0.3 - 0.5) * math.log(0.3 / 0.5) + 0 + (0.4 - 0.2) * math.log(0.4 / 0.2)
    assert psi(expected, actual) == pytest.approx(by_hand)


def test_an_empty_bin_is_floored_not_infinite():
    assert math.isfinite(psi([0.5, 0.5, 0.0], [0.4, 0.4, 0.2]))


@pytest.mark.parametrize(("value", "name"), [(0.05, "none"), (0.1, "moderate"), (0.25, "moderate"), (0.26, "major")])
def test_levels(value, name):
    assert level(value) == name


def test_numbers_are_binned_at_training_deciles_with_missing_as_its_own_bin():
    assert number_bins(np.array([1.0, 2.0, 2.5, 3.0, 9.0, np.nan]), [2.0, 3.0]).tolist() == [0, 1, 1, 2, 2, 3]


def constructed_reference():
    # Training: numbers 1..90 and 10 missing; categories A 60%, B 40%.
    numbers = np.array([*range(1, 91), *[np.nan] * 10], dtype=float)
    categories = pd.Categorical(["A"] * 60 + ["B"] * 40)
    return training_distribution({"Amount": numbers}, {"Kind": categories})


def test_the_same_population_does_not_drift_and_a_shifted_one_does():
    reference = constructed_reference()
    same = DriftTally(reference)
    same.add({"Amount": np.array([*range(1, 91), *[np.nan] * 10], dtype=float),
              "Kind": pd.Categorical(["A"] * 60 + ["B"] * 40)}, np.ones(100, dtype=bool))
    report = same.report()
    assert report["features"]["Amount"]["psi"] == 0 and report["features"]["Kind"]["psi"] == 0
    shifted = DriftTally(reference)
    shifted.add({"Amount": np.arange(1, 101, dtype=float) * 10, "Kind": pd.Categorical(["B"] * 100)},
                np.ones(100, dtype=bool))
    report = shifted.report()
    assert report["features"]["Amount"]["level"] == "major" and report["flagged"] == ["Amount", "Kind"]
    # Kind: A 0.6 -> floor, B 0.4 -> 1.0, missing 0 -> 0 (both floored)
    by_hand = (1e-4 - 0.6) * math.log(1e-4 / 0.6) + (1.0 - 0.4) * math.log(1.0 / 0.4)
    assert report["features"]["Kind"]["psi"] == round(by_hand, 4)


def test_unseen_categories_have_their_own_bin():
    tally = DriftTally(constructed_reference())
    tally.add({"Kind": pd.Categorical(["A"] * 50 + ["Z"] * 50)}, np.ones(100, dtype=bool))
    entry = tally.report()["features"]["Kind"]
    assert entry["bins"] == ["A", "B", "(other)", "(missing)"] and entry["actual"] == [0.5, 0.0, 0.5, 0.0]


def test_too_few_rows_are_not_judged():
    tally = DriftTally(constructed_reference())
    tally.add({"Amount": np.ones(99)}, np.ones(99, dtype=bool))
    report = tally.report()
    assert report["judged"] is False and "Too few" in report["note"] and report["features"] == {}


def test_tallies_merge_exactly():
    reference = constructed_reference()
    rng = np.random.default_rng(1)
    values = {"Amount": rng.uniform(0, 200, 1000), "Kind": pd.Categorical(rng.choice(["A", "B"], 1000))}
    rows = rng.random(1000) < 0.9
    whole = DriftTally(reference)
    whole.add(values, rows)
    merged = DriftTally(reference)
    for start in range(0, 1000, 130):
        part = DriftTally(reference)
        part.add({k: v[start:start + 130] for k, v in values.items()}, rows[start:start + 130])
        merged.merge(part)
    assert merged.report() == whole.report()


def test_counting_by_comparison_equals_binning_row_by_row():
    from webapp.stats.drift import _number_counts

    rng = np.random.default_rng(4)
    values = np.round(rng.lognormal(5, 1, 5000))  # ties at the edges, as real amounts have
    values[rng.random(5000) < 0.05] = np.nan
    edges = np.unique(np.quantile(values[~np.isnan(values)], np.linspace(0.1, 0.9, 9))).tolist()
    for chosen in (edges, edges[:1], []):
        expected = np.bincount(number_bins(values, chosen), minlength=len(chosen) + 2)
        assert _number_counts(values, chosen).tolist() == expected.tolist()


@pytest.mark.parametrize("rows", [1, 5, 64])
def test_a_few_values_are_counted_as_many_are(rows, monkeypatch):
    from webapp.stats import drift

    rng = np.random.default_rng(rows)
    edges = [1.0, 2.5, 4.0]
    numbers = rng.choice([0.5, 1.0, 2.5, 3.0, 4.0, 9.0, np.inf, -np.inf, np.nan], size=rows)
    groups = pd.Categorical(rng.choice(["Urban", "Rural", "Elsewhere", None], size=rows),
                            categories=["Elsewhere", "Rural", "Urban"])
    names = ["Urban", "Rural"]
    few = drift._number_counts(numbers, edges), drift._category_counts(groups, names)
    monkeypatch.setattr(drift, "FEW_VALUES", 0)
    many = drift._number_counts(numbers, edges), drift._category_counts(groups, names)
    assert [f.tolist() for f in few] == [m.tolist() for m in many]
    assert [f.dtype for f in few] == [m.dtype for m in many]
