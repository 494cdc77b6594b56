"""Configuration: one table of settings, each environment variable declared once.

`SETTINGS` feeds everything else: `load()` reads and checks the environment at start (a bad value
stops the start with one line naming the variable and what it accepts), `limits()` builds the core's
`Limits` from the loaded values, and `markdown()` writes the README's configuration table, which
`tests/test_docs.py` holds equal to it. To add a setting, append a row to `SETTINGS`.

`python -m webapp.config --markdown` prints the table; without arguments, the values in effect
(secrets only as set or unset).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from webapp.accounts.roles import MAX_KEY_DAYS, ROLES
from webapp.core.limits import DEFAULT_LIMITS, Limits

PROJECT_ROOT = Path(__file__).resolve().parent.parent

TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
GROUPS = ("server", "service", "accounts", "limits", "records", "jobs", "notices", "engines")  # the README table's order


class SettingError(ValueError):
    """A value in the environment that its setting does not accept."""


@dataclass(frozen=True)
class Setting:
    name: str
    type: type  # str, int, bool (a flag) or list (comma-separated); `choices` makes a str a choice
    default: object  # None: unset (the meaning says what that does)
    meaning: str
    choices: tuple[str, ...] | None = None
    secret: bool = False  # never printed: no default shown, no value echoed in an error
    group: str = "service"
    minimum: int | None = None
    maximum: int | None = None
    unit: str = ""  # "bytes" or "s": how the README shows the default
    shown: str | None = None  # the default as the README says it, where the value depends on the machine
    limit: str | None = None  # the `Limits` field this setting fills
    check: Callable[[str], object] | None = None  # for structured text: raises ValueError on a bad value
    described: str | None = None  # what `check` accepts, for the README and the error

    def accepts(self) -> str:
        if self.described:
            return self.described
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.type is int:
            unit = f" ({'bytes' if self.unit == 'bytes' else 'seconds'})" if self.unit else ""
            if self.minimum is not None and self.maximum is not None:
                return f"a whole number from {self.minimum:,} to {self.maximum:,}" + unit
            return "a whole number" + (f" ≥ {self.minimum}" if self.minimum is not None else "") + unit
        if self.type is bool:
            return "a flag: " + "/".join(TRUE) + " or " + "/".join(FALSE)
        if self.type is list:
            return "a comma-separated list"
        return "text"

    def parse(self, raw: str) -> object:
        """The value of `raw` (non-empty, from the environment), or SettingError naming the setting."""
        value = raw.strip()
        if self.type is int:
            try:
                number = int(value.replace("_", ""))
            except ValueError:
                number = None
            if number is None or (self.minimum is not None and number < self.minimum) or \
                    (self.maximum is not None and number > self.maximum):
                raise self._error(raw)
            return number
        if self.type is bool:
            if value.lower() not in TRUE + FALSE:
                raise self._error(raw)
            return value.lower() in TRUE
        if self.type is list:
            return [item.strip() for item in value.split(",") if item.strip()] or None
        if self.choices and value not in self.choices:
            raise self._error(raw)
        if self.check:
            try:
                self.check(value)
            except ValueError:
                raise self._error(raw) from None
        return raw

    def _error(self, raw: str) -> SettingError:
        got = "the value given is not shown" if self.secret else f"got {raw[:40]!r}"
        return SettingError(f"{self.name} must be {self.accepts()} ({got})")

    def shown_default(self) -> str:
        if self.shown is not None:
            return self.shown
        if self.default is None or self.secret:
            return "unset"
        if self.type is bool:
            return "on" if self.default else "off"
        if self.type is int:
            return _size(self.default) if self.unit == "bytes" else f"{self.default:,}" + (" s" if self.unit else "")
        if self.default == "":
            return "empty"
        return f"`{self.default}`"


def _size(n: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor:,} {unit}"
    return f"{n:,} bytes"


def _role_mapping(text: str) -> None:
    from webapp.web.oidc import parse_role_mapping  # here: only a set value needs the web layer's parser

    if any("=" not in pair for pair in filter(None, (p.strip() for p in text.split(",")))):
        raise ValueError(text)
    parse_role_mapping(text)


def _limit(name: str, field: str, meaning: str, **kw) -> Setting:
    """A size limit: its default is the core's (`Limits`), so the two cannot disagree."""
    return Setting(name, int, getattr(DEFAULT_LIMITS, field), meaning, group="limits", minimum=1, limit=field, **kw)


SETTINGS: tuple[Setting, ...] = (
    # gunicorn (read by gunicorn.conf.py)
    Setting("BIND", str, "127.0.0.1:8000", "the address gunicorn listens on", group="server"),
    Setting("WEB_CONCURRENCY", int, None, "gunicorn worker processes", group="server", minimum=1,
            shown="one per core"),
    Setting("GUNICORN_THREADS", int, 4, "threads per worker", group="server", minimum=1),
    Setting("GUNICORN_TIMEOUT", int, 300, "a worker silent this long is restarted", group="server", minimum=1,
            unit="s"),
    Setting("LOG_LEVEL", str, "info", "gunicorn's log level", group="server",
            choices=("debug", "info", "warning", "error", "critical")),
    Setting("PROMETHEUS_MULTIPROC_DIR", str, None, "where gunicorn's workers keep their metrics (emptied at start)",
            group="server", shown="a fresh temporary folder per server start"),
    # the service
    Setting("INSTANCE_PATH", str, None, "the instance folder, where every `instance/…` default below lives (the "
            "SQLite database and queue, the secret key, models and archives); a relative path from the working "
            "folder", shown="`instance/`"),
    Setting("SECRET_KEY", str, None, "signs sessions and CSRF tokens; unset: generated once into "
            "`instance/secret_key`; required when `APP_ENV=production`", secret=True),
    Setting("APP_ENV", str, None, "`production` makes `SECRET_KEY` mandatory"),
    Setting("MODEL_PATH", str, str(PROJECT_ROOT / "models" / "loan_pipeline.joblib"),
            "the artifact; its card sits beside it", shown="`models/loan_pipeline.joblib`"),
    Setting("UPLOAD_FOLDER", str, str(PROJECT_ROOT / "uploads"), "stored results (owner-only files)",
            shown="`uploads/`"),
    Setting("RESULTS_URL", str, None, "where results are stored: any fsspec URL (`s3://bucket/prefix`), so "
            "several servers share them; unset: `UPLOAD_FOLDER`"),
    Setting("RESULT_TTL_SECONDS", int, 24 * 3600, "results expire after this; old links answer 410", minimum=1,
            unit="s"),
    Setting("DATABASE_URL", str, None, "the decision record's database; PostgreSQL as "
            "`postgresql+psycopg://user@host/db`; unset: the SQLite file `instance/loan-scoring.db`"),
    Setting("MODEL_STORE", str, None, "the model registry's store: a folder or any fsspec URL "
            "(`s3://bucket/models`), one folder per version, named by its SHA-256; unset: `instance/models`"),
    Setting("METRICS_TOKEN", str, None, "require this bearer token on `/metrics`", secret=True),
    Setting("SESSION_COOKIE_SECURE", bool, False, "set behind HTTPS (over HTTPS the cookie is Secure and HSTS "
            "is sent either way)"),
    Setting("TRUST_PROXY", bool, False, "honour `X-Forwarded-*` from one reverse proxy"),
    Setting("TRUSTED_HOSTS", list, None, "host names the service answers for (`.example.com` for subdomains); "
            "other `Host` headers get 400; unset: any"),
    # accounts (see "Accounts, roles, keys and single sign-on")
    Setting("SESSION_IDLE_MINUTES", int, 30, "a sign-in unused this many minutes ends", group="accounts",
            minimum=1),
    Setting("SESSION_ABSOLUTE_HOURS", int, 12, "every sign-in ends after this many hours", group="accounts",
            minimum=1),
    Setting("API_KEY_DAYS", int, 365, "a new API key stops working this many days after it is made "
            "(`flask keys create --days` may ask for fewer); 0: keys never expire", group="accounts", minimum=0,
            maximum=MAX_KEY_DAYS),
    Setting("ADMIN_EMAIL", str, None, "with `ADMIN_PASSWORD` and no users yet, this admin is created at start "
            "(else a one-time `/setup` link is printed)", group="accounts"),
    Setting("ADMIN_PASSWORD", str, None, "the first admin's password (see `ADMIN_EMAIL`)", group="accounts",
            secret=True),
    Setting("REDIS_URL", str, None, "Redis for the sign-in throttle's counts, shared by every worker and host "
            "(unset: each process counts alone)", group="accounts"),
    Setting("OIDC_ISSUER", str, None, "single sign-on with an OpenID provider: its issuer URL enables it",
            group="accounts"),
    Setting("OIDC_CLIENT_ID", str, None, "this service's client id at the provider", group="accounts"),
    Setting("OIDC_CLIENT_SECRET", str, None, "its client secret", group="accounts", secret=True),
    Setting("OIDC_ROLES_CLAIM", str, "roles", "the ID token claim with the person's groups", group="accounts"),
    Setting("OIDC_ROLE_MAPPING", str, "", "`group=role,…` maps the provider's groups to roles", group="accounts",
            check=_role_mapping, described="comma-separated `group=role` pairs, each role one of "
            + ", ".join(reversed(ROLES))),
    Setting("AUTH_PROXY_HEADER", str, None, "a header (e.g. `X-Forwarded-Email`) naming the signed-in person, "
            "set by an authenticating proxy; honoured only with `TRUST_PROXY`", group="accounts"),
    # limits: refused with a clear 4xx, never a 500 (see "Security and data handling")
    Setting("MAX_CONTENT_LENGTH", int, 100 * 1024 * 1024, "larger requests get 413 before the body is read",
            group="limits", minimum=1, unit="bytes"),
    Setting("MAX_FORM_MEMORY_SIZE", int, 500_000, "Werkzeug form parsing: bytes of non-file fields",
            group="limits", minimum=1, unit="bytes"),
    Setting("MAX_FORM_PARTS", int, 100, "Werkzeug form parsing: parts per form", group="limits", minimum=1),
    _limit("MAX_ROWS", "max_rows", "rows per file"),
    _limit("MAX_COLUMNS", "max_columns", "columns per file"),
    _limit("MAX_CELL_LENGTH", "max_cell_length", "characters per cell"),
    _limit("MAX_XLSX_UNCOMPRESSED", "max_xlsx_uncompressed", "a spreadsheet's inflated size (also: ratio ≤ "
           f"{DEFAULT_LIMITS.max_xlsx_ratio}, used area ≤ {DEFAULT_LIMITS.max_xlsx_cells:,} cells)", unit="bytes"),
    _limit("MAX_JSON_BYTES", "max_json_bytes", "JSON bodies (parsing costs about 10x the body in memory)",
           unit="bytes"),
    _limit("MAX_JSON_DEPTH", "max_json_depth", "nesting of JSON bodies"),
    # The core has no time budget of its own (the CLI scores without one); the service's is this.
    Setting("REQUEST_TIME_BUDGET", int, 240, "seconds of scoring per request", group="limits", minimum=1,
            unit="s", limit="time_budget"),
    # adverse-action notices (webapp.notices)
    Setting("LENDER_NAME", str, "[Lender name: set LENDER_NAME]", "the creditor on every notice", group="notices",
            shown="a placeholder"),
    Setting("LENDER_ADDRESS", str, "[Lender address: set LENDER_ADDRESS]", "its postal address, lines separated "
            "by `;`", group="notices", shown="a placeholder"),
    Setting("LENDER_CONTACT", str, "[whom to ask: set LENDER_CONTACT]", "whom to ask about a notice: office, "
            "address, phone", group="notices", shown="a placeholder"),
    Setting("LENDER_AGENCY", str, "Federal Trade Commission; Equal Credit Opportunity; Washington, DC 20580",
            "the federal agency's name and address from Regulation B Appendix A, quoted in each notice's ECOA "
            "statement (the default: the one for creditors no other agency covers)", group="notices"),
    Setting("NOTICE_STYLE", str, "principal-reasons", "`principal-reasons` (form C-1: the reasons are stated) or "
            "`right-to-request` (form C-5: the right to ask for them within 60 days)", group="notices",
            choices=("principal-reasons", "right-to-request")),
    Setting("NOTICE_RESPONSE_DAYS", int, 30, "a notice of incompleteness asks for the missing information "
            "within this many days (1002.9(c)(2))", group="notices", minimum=1),
    # the decision record (webapp.records)
    Setting("RECORD_RETENTION_MONTHS", int, 25, "`flask records purge` deletes batches older than this, never one "
            "on hold (Regulation B 1002.12(b)(1): 25 months after the notice)", group="records", minimum=1),
    Setting("RECORDS_URL", str, None, "folder (or fsspec URL) of the decision archives (one Arrow IPC file per batch "
            "over 1 MiB; Parquet for large batches recorded before), shared by every worker and host and kept as long as the record; batches name their "
            "archives relative to it, so it can move (point this at the new place); unset: `instance/records`",
            group="records"),
    # batch jobs (webapp.jobs): Huey on SQLite in the instance folder, or on Redis
    Setting("JOBS_REDIS_URL", str, None, "the jobs queue's Redis (`redis://127.0.0.1:6379/0`); unset: `REDIS_URL`, "
            "else a SQLite queue in the instance folder", group="jobs"),
    Setting("JOBS_QUEUE_PATH", str, None, "the SQLite queue file; unset: `instance/jobs-queue.db`", group="jobs"),
    Setting("JOB_SOURCES", str, "", "comma-separated URL prefixes that dataset jobs may read "
            "(e.g. `s3://bank-data/loans/`); empty: none", group="jobs"),
    Setting("JOB_THRESHOLD_BYTES", int, 20 * 1024 * 1024, "uploads on the page larger than this run as jobs, "
            "with a progress bar", group="jobs", minimum=0, unit="bytes"),
    Setting("JOBS_STALE_SECONDS", int, 60, "a running job whose heartbeat is this old is re-queued",
            group="jobs", minimum=5, unit="s"),
    # engines (read by webapp.engines.cluster, which may not import this module; Dask's own name)
    Setting("DASK_SCHEDULER_ADDRESS", str, None, "the Dask scheduler `flask score --engine dask` uses when "
            "`--scheduler` is not given, and dataset jobs with engine `dask`; unset: a `LocalCluster` on "
            "127.0.0.1", group="engines"),
)
BY_NAME = {setting.name: setting for setting in SETTINGS}


class Config:
    """The table's defaults as attributes (`app.config.from_object(Config)`), with the settings that
    are not environment variables; `load()` gives the environment's values over them."""

    PREVIEW_ROWS = 50
    REQUIRE_SECRET_KEY = False  # derived from APP_ENV by load()


for _setting in SETTINGS:
    setattr(Config, _setting.name, _setting.default)


def load(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """Every setting's value, the environment's (checked) over the default; SettingError on the first bad one.
    An empty variable counts as unset."""
    environ = os.environ if environ is None else environ
    values = {s.name: s.parse(environ[s.name]) if environ.get(s.name, "").strip() else s.default for s in SETTINGS}
    # In production the key must come from the environment (the same in every worker and host).
    values["REQUIRE_SECRET_KEY"] = (values["APP_ENV"] or "").lower() == "production"
    return values


def load_or_exit(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """`load()`, or stop the start with one line on stderr (no traceback) and a non-zero status."""
    try:
        return load(environ)
    except SettingError as exc:
        raise SystemExit(f"error: {exc}") from None


def limits(config: Mapping[str, object]) -> Limits:
    """The core's limits from the loaded settings (those with a `limit` field)."""
    return Limits(**{s.limit: config[s.name] for s in SETTINGS if s.limit})


def markdown() -> str:
    """The README's configuration table."""
    rows = ["| variable | default | accepts | meaning |", "| --- | --- | --- | --- |"]
    for setting in sorted(SETTINGS, key=lambda s: GROUPS.index(s.group)):
        rows.append(f"| `{setting.name}` | {setting.shown_default()} | {setting.accepts()} | {setting.meaning} |")
    return "\n".join(rows) + "\n"


def describe(values: Mapping[str, object]) -> str:
    """The values in effect, one per line; a secret shows only whether it is set."""
    return "\n".join(f"{s.name}={('(set)' if values[s.name] else '(unset)') if s.secret else values[s.name]}"
                     for s in SETTINGS) + "\n"


def main(argv: list[str]) -> int:
    if argv == ["--markdown"]:
        sys.stdout.write(markdown())
    elif not argv:
        sys.stdout.write(describe(load_or_exit()))
    else:
        sys.stderr.write("usage: python -m webapp.config [--markdown]\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
