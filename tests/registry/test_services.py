"""The registry's rules: four eyes, only approved versions serve, promote and roll back with an
append-only history, a generation that moves with every alias change, the shipped model first."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from webapp.model.loading import LoadedModel, checked_card
from webapp.registry import NotAllowed, NotFound, Refused

ADA, BO, ROOT, CLERK = "ada@bank.example", "bo@bank.example", "root@bank.example", "clerk@bank.example"


@pytest.fixture
def shipped(registry, model_path):
    """The registry after first start: the shipped (here: tiny) model is the champion."""
    return registry.ensure_shipped(model_path)


@pytest.fixture
def candidate(registry, shipped, other_model_path):
    return registry.register(other_model_path, by=ADA)["version"]


def test_the_shipped_artifact_is_the_first_approved_champion(registry, shipped, model_path):
    assert registry.champion() == shipped == checked_card(model_path)["version"]
    [version] = registry.versions()
    assert version["status"] == "approved" and version["aliases"] == ["champion"]
    assert version["sha256"] == checked_card(model_path)["artifact"]["sha256"]
    assert version["validation"]["cv"]["folds"] == 3 and version["validation"]["candidates"]
    assert [h["action"] for h in registry.history()] == ["first"]


def test_registering_the_shipped_artifact_again_is_a_no_op(registry, shipped, model_path):
    assert registry.ensure_shipped(model_path) is None
    assert len(registry.versions()) == 1 and len(registry.history()) == 1


def test_workers_starting_at_once_register_the_shipped_artifact_once(registry, model_path):
    results, errors = [], []

    def start():
        try:
            results.append(registry.ensure_shipped(model_path))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(registry.versions()) == 1 and sum(r is not None for r in results) == 1
    assert len(registry.history()) == 1


def test_a_registered_artifact_is_a_candidate_stored_with_its_hashes(registry, candidate, other_model_path):
    version = registry.version(candidate)
    card = checked_card(other_model_path)
    assert version["status"] == "candidate" and version["aliases"] == [] and version["created_by"] == ADA
    assert version["sha256"] == card["artifact"]["sha256"]
    assert version["training_data_sha256"] == card["training_data"]["sha256"]
    assert len(version["reason_table_sha256"]) == 64
    assert checked_card(version["location"])["version"] == candidate  # artifact and card in the store


def test_registering_twice_is_refused(registry, candidate, other_model_path):
    with pytest.raises(Refused, match="already registered"):
        registry.register(other_model_path, by=BO)


@pytest.mark.parametrize("who", [CLERK, "stranger@bank.example", ""])
def test_only_model_admins_manage_models(registry, shipped, other_model_path, who):
    with pytest.raises(NotAllowed, match="not a model admin"):
        registry.register(other_model_path, by=who)


def test_four_eyes_the_one_who_registered_cannot_approve(registry, candidate):
    with pytest.raises(NotAllowed, match="four eyes"):
        registry.approve(candidate, by=ADA, note="looks good to me")
    approved = registry.approve(candidate, by=BO, note="validation report reviewed")
    assert (approved["status"], approved["approved_by"], approved["approval_note"]) == (
        "approved", BO, "validation report reviewed")


@pytest.mark.parametrize("spelled", [f"{ADA} ", f" {ADA.upper()}", f"\t{ADA}"])
def test_four_eyes_are_two_people_however_the_email_is_spelled(registry, candidate, spelled):
    from tests.registry.apps import ROLES

    registry.role_of = lambda email: ROLES.get(email.strip().lower())  # as the accounts look people up
    with pytest.raises(NotAllowed, match="four eyes"):
        registry.approve(candidate, by=spelled, note="looks good to me")


def test_approval_needs_a_note_and_a_candidate(registry, candidate, shipped):
    with pytest.raises(Refused, match="note"):
        registry.approve(candidate, by=BO, note="  ")
    with pytest.raises(Refused, match="only a candidate"):
        registry.approve(shipped, by=BO, note="again")
    with pytest.raises(NotFound):
        registry.approve("nope", by=BO, note="x")


def test_only_an_approved_version_can_serve(registry, candidate):
    with pytest.raises(Refused, match="only an approved version"):
        registry.promote(candidate, by=BO, note="ship it")
    with pytest.raises(Refused, match="only an approved version"):
        registry.set_challenger(candidate, by=BO)


def test_promote_moves_the_champion_and_records_who_when_and_why(registry, shipped, candidate):
    registry.approve(candidate, by=BO, note="reviewed")
    promoted = registry.promote(candidate, by=ROOT, note="better AUC")
    assert registry.champion() == candidate and promoted["aliases"] == ["champion"]
    last = registry.history()[-1]
    assert (last["alias"], last["action"], last["from"], last["to"], last["by"], last["note"]) == (
        "champion", "promote", shipped, candidate, ROOT, "better AUC")
    assert last["at"]


def test_rollback_returns_to_the_previous_champion(registry, shipped, candidate):
    registry.approve(candidate, by=BO, note="reviewed")
    registry.promote(candidate, by=BO, note="better AUC")
    back = registry.rollback(by=ADA, note="complaints from branches")
    assert back["version"] == shipped == registry.champion()
    assert registry.history()[-1] | {"at": None} == {"alias": "champion", "action": "rollback", "from": candidate,
                                                     "to": shipped, "by": ADA, "at": None,
                                                     "note": "complaints from branches"}
    with pytest.raises(Refused, match="no previous champion"):
        registry.rollback(by=ADA, note="further")


def test_history_is_append_only(registry, shipped, candidate):
    registry.approve(candidate, by=BO, note="reviewed")
    registry.promote(candidate, by=BO, note="one")
    before = registry.history()
    registry.rollback(by=BO, note="two")
    assert registry.history()[:len(before)] == before


def test_a_challenger_is_another_approved_version_and_can_be_cleared(registry, shipped, candidate):
    with pytest.raises(Refused, match="is the champion"):
        registry.set_challenger(shipped, by=BO)
    registry.approve(candidate, by=BO, note="reviewed")
    registry.set_challenger(candidate, by=BO, note="shadow for a month")
    assert registry.aliases() == {"champion": shipped, "challenger": candidate}
    registry.set_challenger(None, by=ADA)
    assert registry.challenger() is None
    assert [h["action"] for h in registry.history() if h["alias"] == "challenger"] == ["set", "clear"]


def test_promoting_the_challenger_clears_it(registry, shipped, candidate):
    registry.approve(candidate, by=BO, note="reviewed")
    registry.set_challenger(candidate, by=BO)
    registry.promote(candidate, by=BO, note="won the shadow run")
    assert registry.aliases() == {"champion": candidate, "challenger": None}


def test_the_generation_moves_with_every_alias_change_and_only_then(registry, shipped, candidate):
    seen = [registry.generation()]
    registry.approve(candidate, by=BO, note="reviewed")
    assert registry.generation() == seen[-1]  # approval changes no alias
    for change in (lambda: registry.set_challenger(candidate, by=BO),
                   lambda: registry.set_challenger(None, by=BO),
                   lambda: registry.promote(candidate, by=BO, note="go"),
                   lambda: registry.rollback(by=BO, note="back")):
        change()
        seen.append(registry.generation())
    assert seen == sorted(set(seen))
    with registry.database.session() as session:
        assert registry.generation(session) == seen[-1]


def test_a_refused_change_leaves_the_generation_alone(registry, shipped, candidate):
    before = registry.generation()
    with pytest.raises(Refused):
        registry.promote(candidate, by=BO, note="not approved yet")
    assert registry.generation() == before


def test_each_version_is_loaded_once_per_process(registry, shipped):
    models = []
    threads = [threading.Thread(target=lambda: models.append(registry.load(shipped))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert isinstance(models[0], LoadedModel) and models[0].version == shipped
    assert all(m is models[0] for m in models)


def test_a_stored_artifact_changed_behind_the_registry_is_not_loaded(registry, shipped):
    from webapp.model.loading import ModelLoadError

    location = registry.version(shipped)["location"]
    with open(location, "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(ModelLoadError, match="does not match"):
        registry.load(shipped)


@pytest.mark.parametrize("change", ["promote", "rollback", "challenger"])
def test_an_alias_never_moves_to_a_stored_artifact_changed_behind_the_registry(registry, shipped, candidate, change):
    registry.approve(candidate, by=BO, note="reviewed")
    if change == "rollback":
        registry.promote(candidate, by=BO, note="better AUC")
    target = shipped if change == "rollback" else candidate
    with open(registry.version(target)["location"], "ab") as fh:
        fh.write(b"tampered")
    generation = registry.generation()
    with pytest.raises(Refused, match="does not match its registered SHA-256"):
        {"promote": lambda: registry.promote(candidate, by=BO, note="x"),
         "rollback": lambda: registry.rollback(by=ADA, note="x"),
         "challenger": lambda: registry.set_challenger(candidate, by=BO, note="x")}[change]()
    assert registry.generation() == generation  # nothing moved


def test_an_alias_never_moves_to_a_version_whose_stored_card_was_edited(registry, shipped, candidate):
    import json

    from webapp.model.loading import card_path

    registry.approve(candidate, by=BO, note="reviewed")
    stored = card_path(Path(registry.version(candidate)["location"]))
    stored.write_text(json.dumps({**json.loads(stored.read_text()), "threshold": 0.01}))
    with pytest.raises(Refused, match="stored card of version"):
        registry.promote(candidate, by=BO, note="x")
    assert registry.champion() == shipped


def test_retired_versions_never_serve_again(registry, shipped, candidate):
    with pytest.raises(Refused, match="is the champion"):
        registry.retire(shipped, by=BO, note="old")
    registry.retire(candidate, by=BO, note="superseded")
    assert registry.version(candidate)["status"] == "retired"
    with pytest.raises(Refused):
        registry.approve(candidate, by=BO, note="again")


def test_another_worker_sees_an_alias_change_within_the_generation_ttl(registry, shipped, candidate, monkeypatch):
    from webapp.registry import ModelRegistry, services

    monkeypatch.setattr(services, "GENERATION_TTL", 3600.0)  # a slow machine must not outlast a real one
    worker = ModelRegistry(registry.database, registry.store, registry.role_of)
    before = worker.generation()
    registry.approve(candidate, by=BO, note="reviewed")
    registry.promote(candidate, by=BO, note="go")
    assert worker.generation() == before  # its cached read, younger than the TTL
    monkeypatch.setattr(services, "GENERATION_TTL", 0.0)  # as if the TTL had passed
    assert worker.generation() > before and worker.champion() == candidate


def test_this_process_sees_its_own_alias_change_at_once_though_a_request_read_the_generation_meanwhile(
        registry, shipped, candidate, monkeypatch):
    registry.approve(candidate, by=BO, note="reviewed")
    before = registry.generation()
    servable = registry._servable

    def a_request_reads_the_generation_meanwhile(session, version):
        registry._generation = None  # its cached read has expired
        assert registry.generation() == before  # what is committed while the promotion is not
        return servable(session, version)

    monkeypatch.setattr(registry, "_servable", a_request_reads_the_generation_meanwhile)
    registry.promote(candidate, by=BO, note="go")
    assert registry.generation() > before  # not the old value, trusted for GENERATION_TTL


def test_a_download_from_a_remote_store_cut_short_is_fetched_again_by_the_next_load(model_path, monkeypatch):
    """A network error half-way must not leave a half file that every later load takes as the artifact."""
    import uuid

    from webapp.model.loading import file_sha256
    from webapp.registry import ModelStore

    store = ModelStore(f"memory://models-{uuid.uuid4().hex}")
    location = store.put(model_path, "abc")
    real, calls = store.fs.get_file, []

    def cut_short(source, destination, **kwargs):
        calls.append(source)
        if source == location and len(calls) == 2:  # the artifact, the first time
            with open(destination, "wb") as half:
                half.write(b"half an artifact")
            raise ConnectionError("connection reset")
        return real(source, destination, **kwargs)

    monkeypatch.setattr(store.fs, "get_file", cut_short)
    with pytest.raises(ConnectionError):
        store.local_path(location)
    fetched = store.local_path(location)
    assert file_sha256(fetched) == file_sha256(model_path)
    assert not list(fetched.parent.glob("*.partial"))
