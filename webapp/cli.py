"""Command-line entry points: thin click wrappers over the domain modules."""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from webapp.accounts.roles import MAX_KEY_DAYS
from webapp.model import training
from webapp.utils.heap import freeze_startup_heap


@click.command("train")
@click.option("--data", "data_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Labelled CSV with Loan_ID, the 11 features and Loan_Status.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a copy of the artifact (.joblib) here; its card goes beside it as .json.")
@click.option("--by", "by", help="The model admin adding the trained model to the registry as a candidate "
                                 "(another admin approves it).")
@click.option("--seed", default=0, show_default=True, help="Random seed for folds and estimators.")
@click.option("--folds", default=5, show_default=True)
@click.option("--repeats", default=3, show_default=True)
@click.option("--jobs", "n_jobs", default=-1, show_default=True, help="Parallel jobs for the grid search.")
@click.option("--quick", is_flag=True, help="Tiny grids: a smoke run, not a model to ship.")
@click.option("--include-protected-attributes", "include_protected", is_flag=True,
              help="Research only: let Gender, Married and Dependents decide. Never ship such a model.")
def train_command(data_path, output, by, seed, folds, repeats, n_jobs, quick, include_protected):
    """Train the loan pipeline, print cross-validated figures, and add it to the registry as a candidate
    (--by); never overwrites the shipped artifact."""
    if not by and output is None:
        raise click.UsageError("Give --by EMAIL to add the model to the registry as a candidate (and/or --output "
                               "PATH for a copy of the artifact).")
    options = training.TrainingOptions(folds=folds, repeats=repeats, seed=seed, n_jobs=n_jobs, quick=quick,
                                       include_protected=include_protected)
    result = training.train(data_path, options, progress=click.echo)
    with contextlib.ExitStack() as stack:
        import tempfile

        target = output or Path(stack.enter_context(tempfile.TemporaryDirectory())) / "loan_pipeline.joblib"
        card = training.save(result, target)
        if by:
            from flask.cli import ScriptInfo

            app = click.get_current_context().ensure_object(ScriptInfo).load_app()
            with app.app_context(), _registry_errors():
                added = add_candidate(target, _acting_as(by))
    cv = card["cv"]
    click.echo(f"{card['name']} {card['version']}: accuracy {cv['accuracy_mean']:.4f} ± {cv['accuracy_std']:.4f}, "
               f"ROC AUC {cv['roc_auc_mean']:.4f}, Brier {cv['brier_mean']:.4f} "
               f"({cv['folds']}-fold × {cv['repeats']} repeats)")
    if output is not None:
        click.echo(f"wrote {output} and {output.with_suffix('.json')}")
    if by:
        click.echo(f"added candidate {added['version']} to the registry; another model admin approves it with "
                   f"`flask models approve {added['version']} --by EMAIL --note TEXT`")




@click.command("score")
@click.argument("location")
@click.option("--output", help="Where to write: a file ('-' for standard output), or a folder (ending in '/') for one "
                                "file per part. Default: INPUT-predictions.FORMAT beside the input.")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "json", "parquet"]),
              help="Answer format. Default: from the output's name, else csv.")
@click.option("--sheet", help="Spreadsheets: the sheet to read (default: the first visible one).")
@click.option("--include-input", is_flag=True, help="Append the input's other columns to each output row.")
@click.option("--explain", is_flag=True,
              help="Principal reasons for each declined application (JSON: and every feature's contribution).")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="local: this process; dask: a Dask cluster (--scheduler, else a LocalCluster on this machine).")
@click.option("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (default: DASK_SCHEDULER_ADDRESS).")
@click.option("--overwrite", is_flag=True, help="Replace the part files of a non-empty output folder (nothing else in it).")
@click.option("--purpose", type=click.Choice(["decision", "analysis"]), default="decision", show_default=True,
              help="Recorded with the batch: analysis for re-scoring and validation runs (no notices).")
@with_appcontext
def score_command(location, output, fmt, sheet, include_input, explain, engine, scheduler, overwrite, purpose):
    """Score a file, or a folder or glob of CSV/Parquet parts, with the loaded model, without a server.

    LOCATION may be any path or URL fsspec reads; parts are scored in sorted name order."""
    import dataclasses

    from webapp.core.errors import InputError, ServiceUnavailable
    from webapp.engines.dataset import check_output, default_output, format_of, score_dataset
    from webapp.engines.parts import Options, discover
    from webapp.service import BatchRecording, Caller, ScoringOptions
    from webapp.service.recording import dataset_input, records_store

    try:
        model = current_app.extensions["models"].current()
    except ServiceUnavailable as exc:
        raise click.ClickException(exc.message) from None
    fmt = format_of(output, fmt)
    output = output or default_output(location, fmt)
    # The service's row and time limits protect a shared server; a dataset run owns its machine.
    limits = dataclasses.replace(current_app.extensions["limits"], max_rows=10**12, time_budget=None)
    options = Options(ScoringOptions(format=fmt, explain=explain, include_input=include_input, sheet=sheet,
                                     purpose=purpose), limits=limits)
    try:
        check_output(output, fmt, overwrite)
        parts = discover(location)
        recorder = BatchRecording(current_app.extensions["database"],
                                  records_store(current_app.config, current_app.instance_path),
                                  Caller.command_line(), options.scoring, model, dataset_input(parts, location))
        with _progress(len(parts)) as advance:
            summary = score_dataset(location, output, model, options, engine=engine, scheduler=scheduler,
                                    progress=advance, parts=parts, recorder=recorder)
    except (InputError, ServiceUnavailable) as exc:
        raise click.ClickException(f"{location}: {exc.message}") from None
    _print_summary(summary)
    click.echo(f"recorded as batch {recorder.batch_id}", err=True)
    if output != "-":
        click.echo(f"wrote {output}", err=True)


def _print_summary(s) -> None:
    from webapp.core.reasons import REASONS_BY_CODE

    rate = f"{s.approval_rate:.1%}" if s.approval_rate is not None else "n/a"
    click.echo(f"{s.rows:,} rows: {s.scored:,} scored, {s.failed:,} failed, {s.approved:,} approved "
               f"(approval rate {rate})", err=True)
    for reason, count in s.failures_by_reason.most_common(10):
        click.echo(f"  {count:,} × {reason}", err=True)
    if s.decline_reasons:
        click.echo("principal reasons for declines:", err=True)
        for code, count in s.decline_reasons.most_common(5):
            click.echo(f"  {count:,} × {REASONS_BY_CODE[code].text} ({code})", err=True)
    flagged = s.fairness.flagged()
    click.echo("fair lending check: " + (f"approval parity below four-fifths for {', '.join(flagged)}" if flagged
                                         else "no monitored attribute below four-fifths"), err=True)
    for line in _evaluation_lines(s) + _drift_lines(s):
        click.echo(line, err=True)


def _evaluation_lines(summary) -> list[str]:
    if summary.evaluation is None:
        return []
    e = summary.evaluation.report()
    if not e["rows"]:
        return [f"evaluation: {e['note']}"]
    auc = f"{e['roc_auc']:.4f}" if e["roc_auc"] is not None else "n/a (one class)"
    c = e["confusion"]
    return [f"evaluation on {e['rows']:,} labelled rows ({e['unlabelled']:,} unlabelled left out): "
            f"accuracy {e['accuracy']:.4f}, ROC AUC {auc}, Brier {e['brier']:.4f}",
            f"  approved: predicted {e['predicted_approval_rate']:.1%}, actual {e['actual_approval_rate']:.1%}; "
            f"TP {c['tp']:,} FP {c['fp']:,} TN {c['tn']:,} FN {c['fn']:,}"]


def _drift_lines(summary) -> list[str]:
    if summary.drift is None:
        return []
    d = summary.drift.report()
    if not d["judged"]:
        return [f"drift: {d['note']}"]
    if not d["flagged"]:
        return ["drift: no feature shifted far from the training data (PSI below 0.25)"]
    shifted = ", ".join(f"{name} (PSI {d['features'][name]['psi']:.2f})" for name in d["flagged"])
    return [f"drift: major shift from the training data in {shifted}; predictions are less reliable"]


@contextlib.contextmanager
def _progress(parts: int):
    """A progress bar over the parts on a terminal; nothing otherwise."""
    if parts < 2 or not sys.stderr.isatty():
        yield lambda done: None
        return
    with click.progressbar(length=parts, label="scoring parts", file=sys.stderr) as bar:
        yield bar.update


@click.command("purge-results")
@with_appcontext
def purge_results_command():
    """Delete stored results past their time to live (uploads are also purged on each new upload)."""
    click.echo(f"expired {current_app.extensions['results'].purge()} result(s)")


db_group = click.Group("db", help="The database: migrations.")


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade_command(revision):
    """Apply the migrations up to REVISION (the latest by default)."""
    from webapp.db import upgrade

    upgrade(current_app.extensions["database"].engine, revision)
    click.echo(f"database at revision {revision}")


def init_app(app: Flask) -> None:
    app.cli.add_command(users_group)
    app.cli.add_command(keys_group)
    app.cli.add_command(db_group)
    app.cli.add_command(train_command)
    app.cli.add_command(score_command)
    app.cli.add_command(purge_results_command)
    app.cli.add_command(models_group)
    app.cli.add_command(records_group)
    app.cli.add_command(jobs_group)


# --- accounts: users and API keys -------------------------------------------------------------

users_group = click.Group("users", help="People: create them, change their role, disable or retire them.")
keys_group = click.Group("keys", help="API keys: create (shown once) and revoke.")


def _accounts_call(operation):
    """Run one accounts operation in a unit of work; its refusals become one clear line."""
    from webapp.accounts import passwords, services

    try:
        with current_app.extensions["database"].session() as session:
            return operation(session, services)
    except (services.AccountError, passwords.WeakPassword) as exc:
        raise click.ClickException(str(exc)) from None


@users_group.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(["analyst", "auditor", "model_admin", "admin"]))
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (else none: SSO only).")
@with_appcontext
def users_create_command(email, role, password_stdin):
    """Create a user with ROLE."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    user = _accounts_call(lambda s, services: services.create_user(s, email, role, password))
    click.echo(f"created {user.email} ({user.role})")


@users_group.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(["analyst", "auditor", "model_admin", "admin"]))
@with_appcontext
def users_set_role_command(email, role):
    """Give the user EMAIL the role ROLE."""
    user = _accounts_call(lambda s, services: services.set_role(s, email, role, actor="cli"))
    click.echo(f"{user.email} is now {user.role}")


@users_group.command("disable")
@click.argument("email")
@with_appcontext
def users_disable_command(email):
    """Disable the user EMAIL (signed out everywhere; keys stop working)."""
    user = _accounts_call(lambda s, services: services.disable_user(s, email, actor="cli"))
    click.echo(f"disabled {user.email}")


@users_group.command("enable")
@click.argument("email")
@with_appcontext
def users_enable_command(email):
    """Enable the user EMAIL again (their keys work again; they sign in afresh)."""
    user = _accounts_call(lambda s, services: services.enable_user(s, email, actor="cli"))
    click.echo(f"enabled {user.email}")


@users_group.command("retire")
@click.argument("email")
@with_appcontext
def users_retire_command(email):
    """Retire the account of EMAIL for good, freeing the address for someone new (a leaver's address,
    reissued): disabled, keys revoked, signed out; its records stay its own, never the newcomer's."""
    user = _accounts_call(lambda s, services: services.retire_user(s, email, actor="cli"))
    click.echo(f"retired {user.acts_as} (now {user.email}); a new account for the address acts apart from it")


@users_group.command("unlink-sso")
@click.argument("email", required=False)
@click.option("--issuer", help="Instead of one EMAIL: every account bound at this issuer.")
@click.option("--force", is_flag=True, help="Unlink disabled accounts too (with --issuer they are skipped without it).")
@with_appcontext
def users_unlink_sso_command(email, issuer, force):
    """Unbind EMAIL (or every account of --issuer) from its single sign-on identity; the next SSO
    sign-in binds it again. Only for the same person under a new identity: for an address given to
    someone else, 'retire' the account instead."""
    if (email is None) == (issuer is None):
        raise click.UsageError("Give an EMAIL or --issuer, not both.")
    users = _accounts_call(lambda s, services: services.unlink_sso(s, email, actor="cli", issuer=issuer,
                                                                   force=force))
    for user in users:
        click.echo(f"{user.email} is no longer bound to a single sign-on identity")
    if not users:
        click.echo("no account is bound at that issuer")


@keys_group.command("create")
@click.argument("email")
@click.option("--name", default="", help="What the key is for, shown beside its prefix.")
@click.option("--days", type=click.IntRange(min=0, max=MAX_KEY_DAYS), default=None,
              help="It stops working this many days from now (default and most: API_KEY_DAYS).")
@with_appcontext
def keys_create_command(email, name, days):
    """Create an API key for EMAIL; the key is the last line (it is not shown again)."""
    most = current_app.config["API_KEY_DAYS"]
    if days is None:
        days = most
    elif most and not 0 < days <= most:
        raise click.ClickException(f"--days must be from 1 to {most} (API_KEY_DAYS).")
    key, row = _accounts_call(lambda s, services: services.create_key(s, email, name, actor="cli", days=days))
    ends = f"until {row.expires_at:%Y-%m-%d %H:%M} UTC" if row.expires_at else "with no end"
    click.echo(f"key {row.prefix}… for {email}, {ends}; store it now, it is not shown again:")
    click.echo(key)


@keys_group.command("revoke")
@click.argument("key")
@with_appcontext
def keys_revoke_command(key):
    """Revoke KEY (the full key)."""
    row = _accounts_call(lambda s, services: services.revoke_key(s, key, actor="cli"))
    click.echo(f"revoked {row.prefix}…")


models_group = click.Group("models", help="Model versions: register, approve (four eyes), promote, roll back, "
                                          "set a challenger.")


def add_candidate(artifact_path, by: str) -> dict:
    """Add a trained artifact (its card beside it) to the registry as a candidate: what `flask train
    --by EMAIL` calls after writing it. Needs an app context."""
    return current_app.extensions["model_registry"].add_candidate(artifact_path, by)


def _acting_as(email: str) -> str:
    """`--by EMAIL` as the record names that person (`email#2` for a later holder of a reissued
    address), so the registry's role and four-eyes checks see the account, not the address."""
    return _accounts_call(lambda s, services: services.acting_as(s, email))


@contextlib.contextmanager
def _registry_errors():
    from webapp.registry import RegistryError

    try:
        yield current_app.extensions["model_registry"]
    except RegistryError as exc:
        raise click.ClickException(exc.message) from None


def _echo_version(v: dict, action: str) -> None:
    aliases = f" ({', '.join(v['aliases'])})" if v["aliases"] else ""
    click.echo(f"{action} {v['version']}: {v['status']}{aliases}")


@models_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of {version, status, aliases, created_at, …}.")
@with_appcontext
def models_list_command(as_json):
    """List the registered model versions, oldest first."""
    import json

    with _registry_errors() as registry:
        versions = registry.versions()
    if as_json:
        click.echo(json.dumps(versions, indent=2))
        return
    for v in versions:
        cv = (v["validation"] or {}).get("cv") or {}
        figures = f"accuracy {cv['accuracy_mean']:.4f}, ROC AUC {cv['roc_auc_mean']:.4f}" if cv else ""
        click.echo(f"{v['version']:24s} {v['status']:9s} {','.join(v['aliases']) or '-':19s} {v['created_at']} "
                   f"by {v['created_by']}  {figures}")


@models_group.command("register")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--by", required=True, help="The model admin registering it (an account's email).")
@with_appcontext
def models_register_command(path, by):
    """Add an artifact built elsewhere (its card beside it) as a candidate."""
    with _registry_errors() as registry:
        _echo_version(registry.register(path, _acting_as(by)), "registered")


@models_group.command("approve")
@click.argument("version")
@click.option("--by", required=True, help="A model admin other than the one who registered it.")
@click.option("--note", required=True, help="Why it is approved (the validation reviewed).")
@with_appcontext
def models_approve_command(version, by, note):
    """Approve a candidate (four eyes): only approved versions can serve."""
    with _registry_errors() as registry:
        _echo_version(registry.approve(version, _acting_as(by), note), "approved")


@models_group.command("promote")
@click.argument("version")
@click.option("--by", required=True)
@click.option("--note", required=True)
@with_appcontext
def models_promote_command(version, by, note):
    """Make an approved version the champion, which answers every request."""
    with _registry_errors() as registry:
        _echo_version(registry.promote(version, _acting_as(by), note), "promoted")


@models_group.command("rollback")
@click.option("--by", required=True)
@click.option("--note", required=True)
@with_appcontext
def models_rollback_command(by, note):
    """Make the previous champion the champion again."""
    with _registry_errors() as registry:
        _echo_version(registry.rollback(_acting_as(by), note), "rolled back to")


@models_group.command("challenger")
@click.argument("version", required=False)
@click.option("--none", "clear", is_flag=True, help="Clear the challenger.")
@click.option("--by", required=True)
@click.option("--note", default="", help="Why (recorded in the history).")
@with_appcontext
def models_challenger_command(version, clear, by, note):
    """Score every batch in shadow with VERSION too (or --none to stop)."""
    if clear == bool(version):
        raise click.UsageError("Give either VERSION or --none.")
    with _registry_errors() as registry:
        result = registry.set_challenger(None if clear else version, _acting_as(by), note)
    click.echo("challenger cleared" if result is None else f"challenger {result['version']}")


records_group = click.Group("records", help="The decision record: verify, retention, replay, export, notices.")
DATE = click.DateTime(formats=["%Y-%m-%d"])


def _database():
    return current_app.extensions["database"]


def _store() -> str:
    """The records store as configured now: the batch rows name their archives relative to it."""
    from webapp.service.recording import records_store

    return records_store(current_app.config, current_app.instance_path)


@contextlib.contextmanager
def _record_errors():
    from webapp.records import RecordError

    try:
        yield
    except RecordError as exc:
        raise click.ClickException(str(exc)) from None


@records_group.command("head")
@with_appcontext
def records_head_command():
    """Print the chain's head as SEQ:DIGEST, to keep outside the database (`verify --anchor` checks it)."""
    from webapp.records import chain_head

    head = chain_head(_database())
    if head is None:
        raise click.ClickException("nothing is recorded yet: the chain has no head")
    click.echo(str(head))


@records_group.command("verify")
@click.option("--batch", "batch_id", help="Verify this batch only (its decisions, its link and its index).")
@click.option("--anchor", metavar="SEQ:DIGEST", help="A head printed earlier by `flask records head` and kept "
              "elsewhere: the chain must still hold it (no batch removed or rewritten up to it).")
@click.option("--as-of", type=DATE, help="Check that every purged batch was due as of this date (default: today; "
              "a purge forced as of a later date verifies only as of that date).")
@click.option("--accept-unchecked-deletions", is_flag=True, help="Pass deletion entries that keep no header "
              "(made by purges before migration 0011, which are known to have run here): only their link is checked.")
@with_appcontext
def records_verify_command(batch_id, anchor, as_of, accept_unchecked_deletions):
    """Recompute every batch's digest and the chain, and compare each batch's Loan_ID index with its
    decisions; exit 1 naming the first batch that differs and each batch whose index differs. A
    purged batch's entry must make its digest, and the batch must have been past
    RECORD_RETENTION_MONTHS: a batch removed by hand behind a forged entry is found so."""
    from webapp.records import ChainHead, verify

    with _record_errors():
        anchored = ChainHead.parse(anchor) if anchor else None
    report = verify(_database(), batch_id, store=_store(), anchor=anchored, as_of=as_of,
                    retention_months=current_app.config["RECORD_RETENTION_MONTHS"],
                    accept_unchecked_deletions=accept_unchecked_deletions)
    for bad, problem in report.index_problems.items():
        click.echo(f"index of batch {bad} differs from its decisions: {problem} "
                   f"(derived data: rebuild it with `flask records reindex --batch {bad}`)", err=True)
    if report.stray_index:
        click.echo(f"index rows point to {len(report.stray_index)} chain position(s) with no batch "
                   f"({', '.join(map(str, report.stray_index[:10]))}): `flask records reindex` removes them", err=True)
    if report.unchecked_deletions:
        shown = ", ".join(report.unchecked_deletions[:10]) + (" …" if len(report.unchecked_deletions) > 10 else "")
        verdict = ("accepted" if accept_unchecked_deletions else
                   "not accepted: if purges before migration 0011 ran here, pass --accept-unchecked-deletions")
        click.echo(f"{len(report.unchecked_deletions)} deletion entr(ies) keep no header, so only their link can be "
                   f"checked ({shown}): purges before migration 0011 made such entries; where none ran, each is "
                   f"a batch removed by hand ({verdict})", err=True)
    if report.first_bad is not None:
        where = report.first_bad if report.first_bad.startswith("seq ") else f"batch {report.first_bad}"
        click.echo(f"{where}: {report.problem}", err=True)
    if not report.ok:
        sys.exit(1)
    click.echo(f"verified {report.checked} batch(es): the chain is intact")


@records_group.command("reindex")
@click.option("--batch", "batch_id", help="Rebuild this batch's index (default: every index that differs "
              "from its decisions, and every one whose writing was interrupted).")
@with_appcontext
def records_reindex_command(batch_id):
    """Rebuild the Loan_ID index from the archives (it is derived data: nothing is lost)."""
    from webapp.records import reindex

    with _record_errors():
        rebuilt = reindex(_database(), batch_id, store=_store())
    click.echo(f"rebuilt the index of {len(rebuilt)} batch(es)" + (f": {', '.join(rebuilt)}" if rebuilt else ""))


@records_group.command("purge")
@click.option("--as-of", type=DATE, help="Purge as if today were this date (default: today).")
@click.option("--force", is_flag=True, help="Purge although --as-of is after today or the retention is under "
              "25 months (either deletes records the law may still require).")
@with_appcontext
def records_purge_command(as_of, force):
    """Delete the batches past RECORD_RETENTION_MONTHS, never one on hold; deletion entries stay.
    Also writes the Loan_ID index of any batch whose indexing was interrupted, and removes archive
    files an interrupted recording left that no record names."""
    from datetime import UTC, datetime

    from webapp.records import DEFAULT_RETENTION_MONTHS, index_pending, purge

    months = current_app.config["RECORD_RETENTION_MONTHS"]
    if not force and as_of is not None and as_of.date() > datetime.now(UTC).date():
        raise click.ClickException(f"--as-of {as_of:%Y-%m-%d} is after today: it would purge batches still within "
                                   "their retention. Add --force if that is meant.")
    if not force and months < DEFAULT_RETENTION_MONTHS:
        raise click.ClickException(f"RECORD_RETENTION_MONTHS is {months}, under the {DEFAULT_RETENTION_MONTHS} "
                                   "months Regulation B asks for (12 CFR 1002.12(b)(1)). Add --force if that is meant.")
    mended = index_pending(_database(), store=_store())
    if mended:
        click.echo(f"indexed {len(mended)} batch(es) whose indexing was interrupted")
    report = purge(_database(), as_of, months, store=_store())
    click.echo(f"purged {len(report.purged)} batch(es) created before {report.cutoff:%Y-%m-%d}; "
               f"{len(report.held)} on hold kept")
    if report.strays:
        click.echo(f"removed {len(report.strays)} archive file(s) no record names (left by an interrupted "
                   "recording)")


@records_group.command("hold")
@click.argument("batch_id")
@click.option("--reason", required=True, help="Why (an examination, a lawsuit): kept with the hold.")
@with_appcontext
def records_hold_command(batch_id, reason):
    """Keep BATCH past its retention until released."""
    from webapp.records import hold

    with _record_errors():
        hold(_database(), batch_id, reason, also=_account_event("record_held", f"{batch_id}: {reason.strip()}"))
    click.echo(f"batch {batch_id} on hold")


@records_group.command("release")
@click.argument("batch_id")
@with_appcontext
def records_release_command(batch_id):
    """Lift the hold on BATCH (the next purge deletes it if it is past retention)."""
    from webapp.records import release

    with _record_errors():
        release(_database(), batch_id, also=_account_event("record_released", batch_id))
    click.echo(f"batch {batch_id} released")


def cli_actor() -> str:
    """Who runs a command: the operating system's user (the console has no sign-in of ours)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # a container's uid with no name in /etc/passwd
        return "cli"


def _account_event(action: str, detail: str):
    """A hold or its release is an admin's act: written to the events table, like a role change, in
    the transaction that holds or releases (the returned function is given its session)."""
    from webapp.accounts import services

    return lambda session: services.record(session, cli_actor(), action, detail, "cli")


@records_group.command("replay")
@click.argument("batch_id")
@with_appcontext
def records_replay_command(batch_id):
    """Re-score BATCH's stored inputs; exit 0 when every status, probability (1e-12) and reason matches."""
    from webapp.records import replay

    score_frame = current_app.extensions.get("score_frame")
    if score_frame is None:
        raise click.ClickException("no scorer is wired for replay (app.extensions['score_frame'])")
    with _record_errors():
        if hasattr(score_frame, "for_batch"):  # service.replay.RecordedScorer: the batch's own model version
            score_frame = score_frame.for_batch(batch_id)
        report = replay(_database(), batch_id, score_frame, store=_store())
    for difference in report.differences[:50]:
        click.echo(f"row {difference['row']} {difference['loan_id']}: {difference['field']} recorded "
                   f"{difference['recorded']!r}, replayed {difference['replayed']!r}")
    if not report.ok:
        click.echo(f"{len(report.differences)} difference(s) in {report.rows} row(s)", err=True)
        sys.exit(1)
    click.echo(f"replayed {report.rows} row(s): every decision matches")


@records_group.command("export")
@click.option("--since", required=True, type=DATE, help="Batches created on or after this date.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Default: records-since-DATE.FORMAT in the current folder.")
@with_appcontext
def records_export_command(since, fmt, output):
    """Write every recorded decision since DATE, with its batch, time and model version."""
    from webapp.records import export

    output = output or Path(f"records-since-{since:%Y-%m-%d}.{fmt}")
    with _record_errors():
        rows = export(_database(), since, fmt, str(output), store=_store())
    click.echo(f"wrote {rows:,} decision(s) to {output}")


@records_group.command("notices")
@click.argument("batch_id")
@click.option("--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The folder to write notices.pdf, notices.zip and notices.csv into (made if need be).")
@with_appcontext
def records_notices_command(batch_id, output):
    """Write BATCH's adverse-action notices (blank address blocks: the record holds no names)."""
    from webapp.accounts import services as accounts
    from webapp.notices.batch import EVENT, RENDERERS, generate
    from webapp.notices.content import Lender
    from webapp.service import Caller

    config, actor = current_app.config, Caller.command_line().actor
    output.mkdir(parents=True, exist_ok=True)
    with _record_errors():
        for fmt in RENDERERS:
            with _database().session() as session:
                generated = generate(session, batch_id, fmt, Lender.from_config(config), config["NOTICE_STYLE"],
                                     response_days=config["NOTICE_RESPONSE_DAYS"], store=_store())
                accounts.record(session, actor, EVENT, generated.event_detail(), "cli")
            (output / f"notices.{fmt}").write_bytes(generated.data)
    click.echo(f"wrote {generated.notices} notice(s) of batch {batch_id} to {output}/notices.{{pdf,zip,csv}} "
               f"(template {generated.template_version})")


# --- jobs: the worker -----------------------------------------------------------------------------

jobs_group = click.Group("jobs", help="Batch jobs: run the workers.")


@jobs_group.command("worker")
@click.option("--workers", default=1, show_default=True, help="Worker threads (each runs one job at a time).")
@with_appcontext
def jobs_worker_command(workers):
    """Run the job workers (a Huey consumer) until interrupted; re-queue lost jobs first."""
    queue = current_app.extensions["jobs"]
    if queue.huey.immediate:
        raise click.ClickException("JOBS_IMMEDIATE is set: jobs run as they are submitted, no worker is needed.")
    click.echo(f"re-queued {queue.recover()} queued job(s)", err=True)
    freeze_startup_heap()  # the loaded app out of the collector's way while jobs run (utils/heap.py)
    queue.consumer(workers).run()
