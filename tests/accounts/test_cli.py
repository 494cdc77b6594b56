"""`flask users …` and `flask keys …`."""
from webapp.accounts import services

PASSWORD = "violet-harbour-anvil-77"


def _user(app, email):
    with app.extensions["database"].session() as s:
        return services.find_user(s, email)


def test_users_create_reads_the_password_from_stdin(app, runner):
    result = runner.invoke(args=["users", "create", "ann@bank.example", "--role", "analyst", "--password-stdin"],
                           input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    with app.extensions["database"].session() as s:
        assert services.authenticate(s, "ann@bank.example", PASSWORD).role == "analyst"


def test_a_weak_password_is_one_clear_line(runner):
    result = runner.invoke(args=["users", "create", "ann@bank.example", "--role", "analyst", "--password-stdin"],
                           input="password1234\n")
    assert result.exit_code == 1 and "common passwords" in result.output and "Traceback" not in result.output


def test_set_role_and_disable(app, runner):
    runner.invoke(args=["users", "create", "ann@bank.example", "--role", "analyst"])
    assert runner.invoke(args=["users", "set-role", "ann@bank.example", "auditor"]).exit_code == 0
    assert _user(app, "ann@bank.example").role == "auditor"
    assert runner.invoke(args=["users", "disable", "ann@bank.example"]).exit_code == 0
    assert _user(app, "ann@bank.example").disabled


def test_keys_create_prints_the_key_last_and_revoke_ends_it(app, runner):
    runner.invoke(args=["users", "create", "ann@bank.example", "--role", "analyst"])
    result = runner.invoke(args=["keys", "create", "ann@bank.example", "--name", "nightly"])
    key = result.output.strip().splitlines()[-1]
    with app.extensions["database"].session() as s:
        assert services.user_for_key(s, key).email == "ann@bank.example"
    assert runner.invoke(args=["keys", "revoke", key]).exit_code == 0
    with app.extensions["database"].session() as s:
        assert services.user_for_key(s, key) is None
    assert runner.invoke(args=["keys", "revoke", "lbs_unknown"]).exit_code == 1


def test_unlink_sso_frees_the_account_for_its_next_single_sign_on(app, runner):
    with app.extensions["database"].session() as s:
        user = services.create_user(s, "ann@bank.example", "analyst")
        user.sso_issuer, user.sso_subject = "https://login.bank.example", "u-1"
    result = runner.invoke(args=["users", "unlink-sso", "ann@bank.example"])
    assert result.exit_code == 0 and "no longer bound" in result.output
    assert _user(app, "ann@bank.example").sso_subject is None
    assert runner.invoke(args=["users", "unlink-sso", "nobody@bank.example"]).exit_code == 1


def test_retire_frees_an_address_and_unlink_sso_refuses_a_disabled_account_unless_forced(app, runner):
    with app.extensions["database"].session() as s:
        services.create_user(s, "ann@bank.example", "analyst").sso_subject = "u-1"
    assert runner.invoke(args=["users", "disable", "ann@bank.example"]).exit_code == 0
    refused = runner.invoke(args=["users", "unlink-sso", "ann@bank.example"])
    assert refused.exit_code == 1 and "flask users retire" in refused.output and "--force" in refused.output
    retired = runner.invoke(args=["users", "retire", "ann@bank.example"])
    assert retired.exit_code == 0 and retired.output.startswith("retired ann@bank.example (now retired#")
    assert _user(app, "ann@bank.example") is None
    assert runner.invoke(args=["users", "create", "ann@bank.example", "--role", "analyst"]).exit_code == 0


def test_unlink_sso_by_issuer_frees_every_account_bound_there(app, runner):
    with app.extensions["database"].session() as s:
        for email, issuer in [("ann@bank.example", "https://old.bank.example"), ("bo@bank.example", "https://old.bank.example"),
                              ("cy@bank.example", "https://new.bank.example")]:
            user = services.create_user(s, email, "analyst")
            user.sso_issuer, user.sso_subject = issuer, email
    result = runner.invoke(args=["users", "unlink-sso", "--issuer", "https://old.bank.example/"])
    assert result.exit_code == 0 and result.output.count("no longer bound") == 2
    assert [_user(app, e).sso_subject for e in ("ann@bank.example", "bo@bank.example", "cy@bank.example")] == \
        [None, None, "cy@bank.example"]
    assert runner.invoke(args=["users", "unlink-sso"]).exit_code == 2  # an EMAIL or --issuer


def test_a_key_ends_after_api_key_days_or_sooner_never_later(app, runner):
    runner.invoke(args=["users", "create", "ann@bank.example", "--role", "analyst"])
    made = runner.invoke(args=["keys", "create", "ann@bank.example"])
    assert made.exit_code == 0 and ", until 20" in made.output  # API_KEY_DAYS (365) from now
    assert runner.invoke(args=["keys", "create", "ann@bank.example", "--days", "30"]).exit_code == 0
    too_long = runner.invoke(args=["keys", "create", "ann@bank.example", "--days", "400"])
    assert too_long.exit_code == 1 and "from 1 to 365" in too_long.output
    app.config["API_KEY_DAYS"] = 0
    assert "with no end" in runner.invoke(args=["keys", "create", "ann@bank.example"]).output
