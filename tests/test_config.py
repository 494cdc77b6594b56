"""The settings table (webapp/config.py): each variable declared once, checked at start, and the
source of the app's configuration, its limits and the README's table."""
import dataclasses
import os
import subprocess
import sys

import pytest

from webapp import config
from webapp.config import PROJECT_ROOT
from webapp.core.limits import DEFAULT_LIMITS, Limits


def start(env: dict[str, str], code: str = "from webapp import create_app; create_app()"):
    """Python with `env` added, in a fresh process, as gunicorn's master or `flask` would start."""
    environ = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **env}
    return subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True,
                          cwd=PROJECT_ROOT, timeout=120)


BAD_VALUES = [
    ("MAX_ROWS", "abc", "error: MAX_ROWS must be a whole number ≥ 1 (got 'abc')"),
    ("MAX_COLUMNS", "0", "error: MAX_COLUMNS must be a whole number ≥ 1 (got '0')"),
    ("REQUEST_TIME_BUDGET", "2.5", "error: REQUEST_TIME_BUDGET must be a whole number ≥ 1 (seconds) (got '2.5')"),
    ("TRUST_PROXY", "maybe", "error: TRUST_PROXY must be a flag: 1/true/yes/on or 0/false/no/off (got 'maybe')"),
    ("NOTICE_STYLE", "friendly", "error: NOTICE_STYLE must be one of principal-reasons, right-to-request "
                                 "(got 'friendly')"),
    ("OIDC_ROLE_MAPPING", "loan-admins=boss", "error: OIDC_ROLE_MAPPING must be comma-separated `group=role` "
                                              "pairs, each role one of admin, model_admin, auditor, analyst "
                                              "(got 'loan-admins=boss')"),
    # A hundred years at most: a few more digits overflowed the key's end date (a 500).
    ("API_KEY_DAYS", "3000000", "error: API_KEY_DAYS must be a whole number from 0 to 36,500 (got '3000000')"),
    ("LOG_LEVEL", "loud", "error: LOG_LEVEL must be one of debug, info, warning, error, critical (got 'loud')"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_VALUES, ids=[v[0] for v in BAD_VALUES])
def test_a_bad_value_stops_the_start_with_one_line_naming_the_variable(name, value, message):
    done = start({name: value})
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == message


def test_gunicorns_config_checks_the_settings_before_it_starts():
    done = start({"GUNICORN_THREADS": "many"}, code="import runpy; runpy.run_path('gunicorn.conf.py')")
    assert (done.returncode, "Traceback" in done.stderr) == (1, False)
    assert done.stderr.strip() == "error: GUNICORN_THREADS must be a whole number ≥ 1 (got 'many')"


def test_a_secret_is_never_echoed():
    secret = next(s for s in config.SETTINGS if s.secret)
    odd = dataclasses.replace(secret, type=int)  # no secret is checked today; one that were would not show
    with pytest.raises(config.SettingError) as caught:
        odd.parse("hunter2")
    assert "hunter2" not in str(caught.value)
    described = config.describe({**config.load({}), "SECRET_KEY": "hunter2"})
    assert "hunter2" not in described and "SECRET_KEY=(set)" in described


def test_secrets_show_no_default_in_the_readme():
    rows = {line.split("|")[1].strip(" `"): line.split("|")[2].strip() for line in config.markdown().splitlines()[2:]}
    assert {s.name: rows[s.name] for s in config.SETTINGS if s.secret} == {
        "SECRET_KEY": "unset", "METRICS_TOKEN": "unset", "ADMIN_PASSWORD": "unset", "OIDC_CLIENT_SECRET": "unset"}


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("Yes", True), ("on", True), ("0", False),
                                            ("false", False), ("off", False)])
def test_flags(raw, value):
    assert config.load({"TRUST_PROXY": raw})["TRUST_PROXY"] is value


def test_values_are_read_and_an_empty_variable_counts_as_unset():
    values = config.load({"MAX_ROWS": " 1_000 ", "TRUSTED_HOSTS": "a.example, .b.example,", "MODEL_STORE": "",
                          "APP_ENV": "production"})
    assert values["MAX_ROWS"] == 1000
    assert values["TRUSTED_HOSTS"] == ["a.example", ".b.example"]
    assert values["MODEL_STORE"] is None
    assert values["REQUIRE_SECRET_KEY"] is True


def test_the_defaults_are_the_tables():
    assert config.load({}) == {**{s.name: s.default for s in config.SETTINGS}, "REQUIRE_SECRET_KEY": False}
    assert {s.name: getattr(config.Config, s.name) for s in config.SETTINGS} == {
        s.name: s.default for s in config.SETTINGS}


def test_limits_defaults_are_the_tables():
    table = {s.limit: s.default for s in config.SETTINGS if s.limit and s.limit != "time_budget"}
    assert {field: getattr(Limits(), field) for field in table} == table
    assert DEFAULT_LIMITS == Limits()
    assert Limits().max_xlsx_uncompressed == 1 << 30  # 1 GiB, as the service always used


def test_the_app_builds_its_limits_from_the_settings(app):
    limits = app.extensions["limits"]
    assert (limits.max_rows, limits.time_budget) == (app.config["MAX_ROWS"], app.config["REQUEST_TIME_BUDGET"])
    assert config.limits({**config.load({}), "MAX_ROWS": 7}) == dataclasses.replace(
        DEFAULT_LIMITS, max_rows=7, time_budget=240)


def test_the_environment_feeds_the_app_and_the_test_config_wins(monkeypatch, app):
    monkeypatch.setenv("MAX_ROWS", "12")
    monkeypatch.setenv("MAX_COLUMNS", "34")
    from webapp import create_app

    again = create_app({**{k: v for k, v in app.config.items() if k not in ("MAX_ROWS", "MAX_COLUMNS")},
                        "MAX_COLUMNS": 56})
    assert (again.config["MAX_ROWS"], again.config["MAX_COLUMNS"]) == (12, 56)
    assert again.config["PREVIEW_ROWS"] == 50


def test_python_m_webapp_config_prints_the_readme_table():
    done = subprocess.run([sys.executable, "-m", "webapp.config", "--markdown"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, cwd=PROJECT_ROOT, timeout=60)
    assert (done.returncode, done.stderr, done.stdout) == (0, "", config.markdown())


def test_a_flask_command_stops_the_same_way():
    done = start({"MAX_ROWS": "abc"}, code="import sys; from flask.cli import main; sys.argv = ['flask', '--app', "
                                         "'webapp', 'purge-results']; main()")
    assert (done.returncode, "Traceback" in done.stderr) == (1, False)
    assert done.stderr.strip() == "error: MAX_ROWS must be a whole number ≥ 1 (got 'abc')"


def test_gunicorn_freezes_the_loaded_app_before_each_worker_is_forked():
    done = start({}, code="import gc, runpy; hooks = runpy.run_path('gunicorn.conf.py'); "
                          "hooks['pre_fork'](None, None); print(gc.get_freeze_count())")
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip().splitlines()[-1]) > 0
