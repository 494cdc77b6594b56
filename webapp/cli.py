"""Command-line entry points: thin click wrappers over the domain modules."""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app

from webapp import training


@click.command("train")
@click.option("--data", "data_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Labelled CSV with Loan_ID, the 11 features and Loan_Status.")
@click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the artifact (.joblib); its card goes beside it as .json.")
@click.option("--seed", default=0, show_default=True, help="Random seed for folds and estimators.")
@click.option("--folds", default=5, show_default=True)
@click.option("--repeats", default=3, show_default=True)
@click.option("--jobs", "n_jobs", default=-1, show_default=True, help="Parallel jobs for the grid search.")
@click.option("--quick", is_flag=True, help="Tiny grids: a smoke run, not a model to ship.")
def train_command(data_path, output, seed, folds, repeats, n_jobs, quick):
    """Train the loan pipeline, print cross-validated figures, write artifact and card."""
    options = training.TrainingOptions(folds=folds, repeats=repeats, seed=seed, n_jobs=n_jobs, quick=quick)
    result = training.train(data_path, options, progress=click.echo)
    card = training.save(result, output)
    cv = card["cv"]
    click.echo(f"{card['name']} {card['version']}: accuracy {cv['accuracy_mean']:.4f} ± {cv['accuracy_std']:.4f}, "
               f"ROC AUC {cv['roc_auc_mean']:.4f}, Brier {cv['brier_mean']:.4f} "
               f"({cv['folds']}-fold × {cv['repeats']} repeats)")
    click.echo(f"wrote {output} and {output.with_suffix('.json')}")


def init_app(app: Flask) -> None:
    app.cli.add_command(train_command)
