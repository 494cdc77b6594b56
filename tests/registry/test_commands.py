"""`flask models …`: the registry from the command line, and `add_candidate` for `flask train`."""
from __future__ import annotations

import json

import pytest

from tests.registry.apps import registry_app
from webapp.cli import add_candidate
from webapp.model.loading import checked_card

ADA, BO = "ada@bank.example", "bo@bank.example"


@pytest.fixture
def app(model_path, tmp_path, database_url):
    app = registry_app(model_path, tmp_path, database_url)
    yield app
    app.extensions["database"].dispose()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def models(runner, *args):
    return runner.invoke(args=["models", *args])


def listed(runner) -> list[dict]:
    result = models(runner, "list", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_the_app_starts_with_the_shipped_model_as_champion(runner, model_path):
    [version] = listed(runner)
    assert version["version"] == checked_card(model_path)["version"]
    assert {k: version[k] for k in ("status", "aliases")} == {"status": "approved", "aliases": ["champion"]}
    assert {"created_at", "sha256"} <= set(version)


def test_register_approve_promote_rollback(runner, model_path, other_model_path):
    shipped = checked_card(model_path)["version"]
    new = checked_card(other_model_path)["version"]
    assert models(runner, "register", str(other_model_path), "--by", ADA).exit_code == 0
    refused = models(runner, "approve", new, "--by", ADA, "--note", "mine")
    assert refused.exit_code == 1 and "four eyes" in refused.output
    assert models(runner, "approve", new, "--by", BO, "--note", "reviewed").exit_code == 0
    promoted = models(runner, "promote", new, "--by", BO, "--note", "better")
    assert promoted.exit_code == 0 and f"promoted {new}" in promoted.output
    assert models(runner, "rollback", "--by", ADA, "--note", "complaints").exit_code == 0
    assert [v["aliases"] for v in listed(runner)] == [["champion"], []]
    assert models(runner, "challenger", new, "--by", ADA).exit_code == 0
    assert [v["aliases"] for v in listed(runner)] == [["champion"], ["challenger"]]
    assert models(runner, "challenger", "--none", "--by", ADA).exit_code == 0
    assert listed(runner)[0]["version"] == shipped


def test_plain_list_shows_one_line_per_version(runner):
    result = models(runner, "list")
    assert result.exit_code == 0 and "approved" in result.output and "champion" in result.output


def test_a_clerk_is_refused_with_a_message(runner, other_model_path):
    result = models(runner, "register", str(other_model_path), "--by", "clerk@bank.example")
    assert result.exit_code == 1 and "not a model admin" in result.output


def test_challenger_needs_a_version_or_none(runner):
    assert models(runner, "challenger", "--by", ADA).exit_code == 2


def test_add_candidate_is_what_train_calls(app, other_model_path):
    with app.app_context():
        assert add_candidate(other_model_path, ADA)["status"] == "candidate"
