"""Train the loan-approval pipeline and write it with its model card.

Candidates (random forest, gradient boosting, logistic regression) are each tuned with
`GridSearchCV` over repeated stratified k-fold cross-validation; the best by mean accuracy (then ROC
AUC) is the reference, and by the one-standard-error rule the simplest candidate whose accuracy lies within
one standard error of it is kept (they are listed simplest first). It is wrapped in sigmoid calibration
when that lowers the Brier score without costing accuracy, and refit on all rows.

The model decides on `contract.DECISION_FEATURES` only. For comparison, the chosen estimator is also
cross-validated with Gender, Married and Dependents added (`cv_with_protected_attributes` in the
card), so anyone can see what leaving them out costs; `include_protected` trains on them, for
research only — the shipped artifact never does.
"""
from __future__ import annotations

import json
import platform
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, RepeatedStratifiedKFold, cross_validate

from webapp.core.contract import (
    CATEGORICAL_FEATURES,
    DECISION_FEATURES,
    FEATURE_NAMES,
    FEATURES,
    ID_COLUMN,
    NEGATIVE_LABEL,
    POSITIVE_LABEL,
    TARGET_COLUMN,
)
from webapp.model.loading import file_sha256
from webapp.core.errors import InputError, MissingColumns
from webapp.core.limits import Limits
from webapp.core.reasons import reason_policy, reason_table
from webapp.core.validation import Contract, check_chunk, match_columns
from webapp.stats.drift import training_distribution
from webapp.model.explain import training_reference
from webapp.model.fastpath import compile_scorer
from webapp.model.pipeline import build_pipeline
from webapp.model.transformers import LenientOrdinalEncoder

MODEL_NAME = "loan-approval"
THRESHOLD = 0.5
MIN_BRIER_GAIN = 0.002  # smaller gains are within cross-validation noise
SCORING = {"accuracy": "accuracy", "roc_auc": "roc_auc", "brier": "neg_brier_score"}


@dataclass
class TrainingOptions:
    folds: int = 5
    repeats: int = 3
    seed: int = 0
    n_jobs: int | None = None
    quick: bool = False  # small grids, for tests and smoke runs
    include_protected: bool = False  # research only: let Gender, Married and Dependents decide
    candidates: tuple[str, ...] | None = None  # a subset of candidate_grids' names; None: all
    consider_calibration: bool = True  # False: never wrap the chosen estimator (it stays exactly explainable)

    @property
    def features(self) -> tuple[str, ...]:
        return FEATURE_NAMES if self.include_protected else DECISION_FEATURES


@dataclass
class TrainingResult:
    pipeline: object
    card: dict
    candidates: list[dict] = field(default_factory=list)


def candidate_grids(seed: int, quick: bool) -> dict[str, tuple[object, dict]]:
    trees = 50 if quick else 300
    # Simplest first: the one-standard-error rule prefers earlier entries among near-equals.
    grids = {
        "logistic_regression": (
            LogisticRegression(max_iter=2000),
            {"C": [0.05, 0.3, 1.0]},
        ),
        "gradient_boosting": (
            HistGradientBoostingClassifier(random_state=seed, early_stopping=False),
            {"max_depth": [2, 3], "learning_rate": [0.03, 0.1], "max_iter": [100]},
        ),
        "random_forest": (
            RandomForestClassifier(n_estimators=trees, random_state=seed),
            {"max_depth": [4, 6], "min_samples_leaf": [1, 5]},
        ),
    }
    if quick:
        grids = {name: (est, {k: v[:1] for k, v in grid.items()}) for name, (est, grid) in grids.items()}
    return grids


def load_training_data(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.read_csv(path)
    # Every feature, protected ones included: the comparison variant needs them.
    missing = [c for c in (ID_COLUMN, *FEATURE_NAMES, TARGET_COLUMN) if c not in frame.columns]
    if missing:
        raise MissingColumns(missing=missing, found=list(frame.columns))
    labels = frame.pop(TARGET_COLUMN).astype(str).str.strip().str.upper()
    unknown = sorted(set(labels) - {POSITIVE_LABEL, NEGATIVE_LABEL})
    if unknown:
        raise InputError(
            f"{TARGET_COLUMN} must be {POSITIVE_LABEL} or {NEGATIVE_LABEL}; found {', '.join(unknown[:5])}",
            code="invalid-target",
        )
    return frame, (labels == POSITIVE_LABEL).to_numpy(dtype=int)


def train(data_path: Path, options: TrainingOptions | None = None, progress=print) -> TrainingResult:
    options = options or TrainingOptions()
    X, y = load_training_data(Path(data_path))
    cv = RepeatedStratifiedKFold(n_splits=options.folds, n_repeats=options.repeats, random_state=options.seed)

    candidates = []
    for name, (classifier, grid) in candidate_grids(options.seed, options.quick).items():
        if options.candidates is not None and name not in options.candidates:
            continue
        search = GridSearchCV(
            build_pipeline(classifier, options.features),
            {f"classifier__{k}": v for k, v in grid.items()},
            scoring=SCORING,
            refit="accuracy",
            cv=cv,
            n_jobs=options.n_jobs,
        )
        search.fit(X, y)
        figures = _figures_at(search.cv_results_, search.best_index_)
        params = {k.removeprefix("classifier__"): v for k, v in search.best_params_.items()}
        candidates.append({"name": name, "params": params, "estimator": search.best_estimator_, **figures})
        progress(f"{name:20s} accuracy {figures['accuracy_mean']:.4f} ± {figures['accuracy_std']:.4f}  "
                 f"ROC AUC {figures['roc_auc_mean']:.4f}  Brier {figures['brier_mean']:.4f}  {params}")

    best = choose_candidate(candidates, n_scores=options.folds * options.repeats)
    progress(f"chosen: {best['name']} (simplest within one standard error of the most accurate)")
    with_protected = _cv_with_protected_attributes(best, X, y, cv, options.n_jobs)
    progress(f"for comparison, with Gender, Married and Dependents: accuracy {with_protected['accuracy_mean']:.4f}, "
             f"ROC AUC {with_protected['roc_auc_mean']:.4f}")
    pipeline, calibration = _calibrate_if_it_helps(best, X, y, cv, options.n_jobs, progress,
                                                   allowed=options.consider_calibration)
    pipeline.fit(X, y)
    figures = calibration["figures"] if calibration["used"] else best
    card = {
        "name": MODEL_NAME,
        "created_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "scikit_learn_version": sklearn.__version__,
        "python_version": platform.python_version(),
        "training_data": {"file": Path(data_path).name, "rows": int(len(y)), "sha256": file_sha256(data_path)},
        "cv": {
            "folds": options.folds,
            "repeats": options.repeats,
            "seed": options.seed,
            **{k: round(float(figures[k]), 4) for k in ("accuracy_mean", "accuracy_std", "roc_auc_mean", "brier_mean")},
            "note": "figures of the chosen grid point; the grid search used the same folds",
        },
        "cv_with_protected_attributes": {
            **{k: round(float(with_protected[k]), 4) for k in ("accuracy_mean", "accuracy_std", "roc_auc_mean",
                                                              "brier_mean")},
            "note": "the chosen estimator and parameters with Gender, Married and Dependents added, same folds; "
                    "for comparison only, never shipped",
        },
        "estimator": {
            "name": best["name"],
            "params": _jsonable(best["params"]),
            "selection": "simplest candidate within one standard error of the most accurate",
            "calibration": calibration["summary"],
        },
        "candidates": [
            {k: (round(float(v), 4) if isinstance(v, float) else _jsonable(v)) for k, v in c.items() if k != "estimator"}
            for c in candidates
        ],
        "threshold": THRESHOLD,
        "positive_label": POSITIVE_LABEL,
        "id_column": ID_COLUMN,
        "decision_features": list(options.features),
        "monitored_attributes": [f.name for f in FEATURES if f.monitored],
        "features": feature_contract(X, options.features),
    }
    checked = as_scored(card, X)
    card["explanation"] = _explanation(pipeline, card, checked.features[checked.valid])
    card["reasons"] = reason_table()
    card["reason_policy"] = reason_policy()
    card["training_distribution"] = _distribution(checked)
    return TrainingResult(pipeline=pipeline, card=card, candidates=candidates)


def as_scored(card: dict, X: pd.DataFrame):
    """The training rows read through the same validation as every scored file."""
    contract = Contract.from_card(card)
    columns = [ID_COLUMN, *(c for c in X.columns if c != ID_COLUMN)]
    frame = X.reindex(columns=columns)
    plan = match_columns(columns, contract.required_columns, contract.monitored_only)
    frame.columns = range(len(columns))
    return check_chunk(frame.astype(object), plan, contract, Limits())


def _explanation(pipeline, card: dict, features: pd.DataFrame) -> dict:
    """How scores are explained, with the training population's reference terms; or why not."""
    scorer = compile_scorer(pipeline, card)
    if scorer is None:
        return {"method": None, "note": "explanations need the linear model's exact form; this estimator has none"}
    return training_reference(scorer, features)


def _distribution(checked) -> dict:
    """Each input feature's training distribution, for drift checks on scored files."""
    valid = checked.valid
    features = checked.features[valid]
    numbers = {name: np.asarray(column, dtype=np.float64) for name, column in features.items()
               if not isinstance(column.dtype, pd.CategoricalDtype)}
    categories = {name: column for name, column in features.items()
                  if isinstance(column.dtype, pd.CategoricalDtype)}
    categories.update({name: values[valid] for name, values in checked.monitored.items() if name not in categories})
    return training_distribution(numbers, categories)


def choose_candidate(candidates: list[dict], n_scores: int) -> dict:
    """The first (simplest) candidate within one standard error of the most accurate one."""
    top = max(candidates, key=lambda c: (c["accuracy_mean"], c["roc_auc_mean"]))
    standard_error = top["accuracy_std"] / np.sqrt(n_scores)
    return next(c for c in candidates if c["accuracy_mean"] >= top["accuracy_mean"] - standard_error)


def feature_contract(X: pd.DataFrame, decision_features: tuple[str, ...] = DECISION_FEATURES) -> list[dict]:
    """The input contract as the model card states it, with allowed values learned from `X`."""
    encoder = LenientOrdinalEncoder().fit(X[list(CATEGORICAL_FEATURES)].to_numpy(dtype=object))
    allowed = {name: [str(v) for v in cats] for name, cats in zip(CATEGORICAL_FEATURES, encoder.categories_)}
    contract = []
    for feature in FEATURES:
        entry = {"name": feature.name, "kind": feature.kind, "description": feature.description,
                 "example": feature.example, "nullable": True, "decides": feature.name in decision_features,
                 "monitored": feature.monitored, "why": feature.why}
        if feature.kind == "category":
            entry.update(type="string", allowed=allowed[feature.name])
        elif feature.kind == "flag":
            entry.update(type="integer", allowed=[0, 1])
        else:
            entry.update(type="number", minimum=0, maximum=feature.maximum)
        contract.append(entry)
    return contract


def save(result: TrainingResult, output: Path) -> dict:
    """Write the artifact and its card (`OUT.json` beside `OUT.joblib`); return the card."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(result.pipeline, output, compress=3)
    digest = file_sha256(output)
    card = {**result.card, "artifact": {"file": output.name, "sha256": digest}}
    card["version"] = f"{card['created_at'][:10].replace('-', '')}-{digest[:8]}"
    card = {"name": card.pop("name"), "version": card.pop("version"), **card}
    output.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return card


def _cv_with_protected_attributes(best, X, y, cv, n_jobs) -> dict:
    """The chosen estimator, same parameters and folds, with every feature: what leaving out the
    protected attributes costs (or gains)."""
    from sklearn.base import clone

    classifier = clone(best["estimator"].named_steps["classifier"])
    scores = cross_validate(build_pipeline(classifier, FEATURE_NAMES), X, y, cv=cv, scoring=SCORING, n_jobs=n_jobs)
    return _figures_of(scores)


def _figures_of(scores: dict) -> dict:
    return {
        "accuracy_mean": scores["test_accuracy"].mean(),
        "accuracy_std": scores["test_accuracy"].std(),
        "roc_auc_mean": scores["test_roc_auc"].mean(),
        "brier_mean": -scores["test_brier"].mean(),
    }


def _calibrate_if_it_helps(best, X, y, cv, n_jobs, progress, allowed=True):
    calibrated = CalibratedClassifierCV(best["estimator"], method="sigmoid", cv=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fold-level notices from tiny test frames
        scores = cross_validate(calibrated, X, y, cv=cv, scoring=SCORING, n_jobs=n_jobs)
    figures = _figures_of(scores)
    # Calibrate only if probabilities get materially better without costing accuracy.
    used = (allowed and figures["brier_mean"] <= best["brier_mean"] - MIN_BRIER_GAIN
            and figures["accuracy_mean"] >= best["accuracy_mean"] - 0.005)
    progress(f"sigmoid calibration: Brier {best['brier_mean']:.4f} -> {figures['brier_mean']:.4f}, "
             f"accuracy {figures['accuracy_mean']:.4f}: {'used' if used else 'not used'}")
    summary = {"method": "sigmoid", "used": bool(used),
               "brier_uncalibrated": round(float(best["brier_mean"]), 4),
               "brier_calibrated": round(float(figures["brier_mean"]), 4)}
    pipeline = calibrated if used else best["estimator"]
    return pipeline, {"used": used, "figures": figures, "summary": summary}


def _figures_at(results: dict, i: int) -> dict:
    return {
        "accuracy_mean": float(results["mean_test_accuracy"][i]),
        "accuracy_std": float(results["std_test_accuracy"][i]),
        "roc_auc_mean": float(results["mean_test_roc_auc"][i]),
        "brier_mean": -float(results["mean_test_brier"][i]),
    }


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value
