"""`mlrepro promote` on a real SQLite store and registry: the gates, the trail, and proof that
a refused or dry-run promotion changes nothing."""

from __future__ import annotations

import re

import pytest
from audit_helpers import Repo, Store, register
from promote_helpers import aliases, promote, stage, version_tags

TRAIL = {"mlrepro.promoted_by", "mlrepro.promoted_at", "mlrepro.gate", "mlrepro.audit_digest", "mlrepro.promoted_to"}


def test_a_clean_runs_version_is_promoted_with_its_trail(store: Store, repo: Repo, monkeypatch) -> None:
    monkeypatch.setenv("MLREPRO_PROMOTED_BY", "ci-bot")
    version = register(store.client, "churn", store.good_run(repo))
    code, result, err = promote(store, repo.path, "churn", version, "--to", "champion")
    assert (code, err) == (0, "")
    assert result["passed"] and result["applied"]
    assert [(g["name"], g["status"]) for g in result["gates"]] == [("audit", "passed")]
    assert aliases(store, "churn") == {"champion": version}
    tags = version_tags(store, "churn", version)
    assert TRAIL <= set(tags) and "mlrepro.reproduced" not in tags
    assert tags["mlrepro.promoted_by"] == "ci-bot"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", tags["mlrepro.promoted_at"])
    assert tags["mlrepro.gate"] == "audit"
    assert re.fullmatch(r"[0-9a-f]{64}", tags["mlrepro.audit_digest"]) and tags["mlrepro.audit_digest"] == result["audit_digest"]
    assert tags["mlrepro.promoted_to"] == "@champion"


def test_a_flawed_runs_version_is_refused_and_nothing_changes(store: Store, repo: Repo) -> None:
    good = register(store.client, "churn", store.good_run(repo), aliases=("champion",))
    flawed = store.good_run(None, tags={"team": ""})  # no commit (MLR501), a required tag empty (MLR701)
    version = register(store.client, "churn", flawed)
    before = store.digest()
    code, text, _ = promote(store, repo.path, "churn", version, "--to", "champion", output_format="text")
    assert code == 1
    assert store.digest() == before, "the registry file's bytes are unchanged"
    assert aliases(store, "churn") == {"champion": good}
    assert "  audit: failed" in text
    assert "  blocking findings:" in text
    assert re.search(r"^    MLR501 \[missing-git-commit\] ", text, re.MULTILINE)
    assert re.search(r"^    MLR701 \[missing-required-tags\] ", text, re.MULTILINE)
    assert text.rstrip().endswith("not promoted: the audit gate failed; the registry is unchanged")
    code, result, _ = promote(store, repo.path, "churn", version, "--to", "champion")
    assert code == 1 and not result["passed"] and not result["applied"] and result["tags"] == {}
    assert {f["code"] for f in result["blocking_findings"]} == {"MLR501", "MLR701"}
    assert all(f["run_id"] == flawed for f in result["blocking_findings"])
    assert store.digest() == before


def test_must_beat_compares_with_the_version_holding_the_alias(store: Store, repo: Repo) -> None:
    incumbent = register(store.client, "churn", store.good_run(repo, metrics={"accuracy": 0.90, "rmse": 0.30}))
    assert promote(store, repo.path, "churn", incumbent, "--to", "champion")[0] == 0
    worse = register(store.client, "churn", store.good_run(repo, metrics={"accuracy": 0.905, "rmse": 0.25}))
    before = store.digest()
    code, result, _ = promote(store, repo.path, "churn", worse, "--to", "champion", "--must-beat", "accuracy:0.01", "--must-beat", "rmse:lower")
    assert code == 1 and store.digest() == before
    assert result["previous"] == incumbent
    gate = next(g for g in result["gates"] if g["name"] == "must-beat")
    assert gate["status"] == "failed"
    accuracy, rmse = result["metrics"]
    assert (accuracy["metric"], accuracy["passed"], accuracy["baseline"], accuracy["candidate"]) == ("accuracy", False, 0.90, 0.905)
    assert accuracy["required"] == 0.91
    assert (rmse["metric"], rmse["passed"], rmse["greater_is_better"]) == ("rmse", True, False)
    assert gate["details"][0] == f"accuracy: 0.905 vs 0.9 (+0.005) does not beat v{incumbent} (alias @champion): needs >= 0.91"

    better = register(store.client, "churn", store.good_run(repo, metrics={"accuracy": 0.95, "rmse": 0.20}))
    code, result, _ = promote(store, repo.path, "churn", better, "--to", "champion", "--must-beat", "accuracy:0.01:0.05", "--must-beat", "rmse:0.05::lower")
    assert code == 0, result
    assert [c["passed"] for c in result["metrics"]] == [True, True]
    assert result["metrics"][0]["required"] == pytest.approx(0.945)  # the larger of +0.01 and +5% of 0.90
    assert aliases(store, "churn") == {"champion": better}
    assert version_tags(store, "churn", better)["mlrepro.gate"] == "audit,must-beat"


def test_must_beat_defaults_come_from_the_config(store: Store, repo: Repo) -> None:
    (repo.path / "pyproject.toml").write_text('[tool.mlrepro.promote]\nmust-beat = ["accuracy:0.1"]\n')
    incumbent = register(store.client, "churn", store.good_run(repo), aliases=("champion",))
    candidate = register(store.client, "churn", store.good_run(repo, metrics={"accuracy": 0.95}))
    code, result, _ = promote(store, repo.path, "churn", candidate, "--to", "champion")
    assert code == 1 and result["previous"] == incumbent
    assert "needs >= 1.01" in result["gates"][1]["details"][0]


def test_stage_transition_archives_the_previous_production_version(store: Store, repo: Repo) -> None:
    first = register(store.client, "churn", store.good_run(repo))
    second = register(store.client, "churn", store.good_run(repo))
    code, result, _ = promote(store, repo.path, "churn", first, "--to", "production")
    assert code == 0 and result["target"] == {"kind": "stage", "name": "Production"}
    assert stage(store, "churn", first) == "Production"
    code, result, _ = promote(store, repo.path, "churn", second, "--to", "Production", "--archive-previous")
    assert code == 0, result
    assert (stage(store, "churn", first), stage(store, "churn", second)) == ("Archived", "Production")
    assert result["actions"][:2] == [f"move model churn v{second} to stage Production", f"archive v{first} (was stage Production)"]
    assert version_tags(store, "churn", second)["mlrepro.promoted_to"] == "stage:Production"


def test_dry_run_judges_and_changes_nothing(store: Store, repo: Repo) -> None:
    version = register(store.client, "churn", store.good_run(repo))
    before = store.digest()
    code, text, _ = promote(store, repo.path, "churn", version, "--to", "champion", "--dry-run", output_format="text")
    assert code == 0
    assert store.digest() == before
    assert "dry run: every gate passed; would:" in text
    assert f"  set alias @champion of model churn to v{version}" in text
    assert text.rstrip().endswith("nothing changed")
    flawed = register(store.client, "churn", store.good_run(None))
    before = store.digest()
    code, result, _ = promote(store, repo.path, "churn", flawed, "--to", "champion", "--dry-run")
    assert code == 1 and not result["applied"] and store.digest() == before


def test_promoting_through_the_gate_clears_the_around_the_gate_finding(store: Store, repo: Repo) -> None:
    from audit_helpers import audit_json

    version = register(store.client, "churn", store.good_run(repo), aliases=("champion",))  # set by hand
    assert [f["code"] for f in audit_json(store, repo.path, "--select", "MLR804")[1]] == ["MLR804"]
    code, result, _ = promote(store, repo.path, "churn", version, "--to", "champion")
    assert code == 0, result  # MLR804 on the candidate itself does not block: the gate is its fix
    assert audit_json(store, repo.path, "--select", "MLR804") == (0, [])


def test_unusable_input_exits_2_with_one_line(store: Store, repo: Repo, tmp_path) -> None:
    version = register(store.client, "churn", store.good_run(repo))
    orphan = register(store.client, "churn", None, source=(store.artifacts / "model").as_uri())
    cases = {
        ("nope", "1", "--to", "champion"): "mlrepro: error: no registered model 'nope' in ",
        ("churn", "99", "--to", "champion"): f"mlrepro: error: model 'churn' has no version '99' (versions: {version}, {orphan})",
        ("churn", orphan, "--to", "champion"): f"mlrepro: error: model churn v{orphan} records no source run",
        ("churn", version, "--to", "champion", "--archive-previous"): "mlrepro: error: --archive-previous moves",
        ("churn", version, "--to", "champion", "--must-beat", "accuracy:x"): "mlrepro: error: --must-beat 'accuracy:x': expected",
        ("churn", version, "--to", "a b"): "mlrepro: error: --to 'a b': expected production, staging or an alias name",
    }
    before = store.digest()
    for args, message in cases.items():
        code, _, err = promote(store, repo.path, *args)
        assert code == 2, (args, err)
        assert err.startswith(message), (args, err)
        assert err.count("\n") == 1 and "Traceback" not in err
    assert store.digest() == before
    missing = Store(f"sqlite:///{tmp_path / 'absent.db'}", tmp_path / "absent.db", tmp_path, None)
    code, _, err = promote(missing, repo.path, "churn", version, "--to", "champion")
    assert code == 2 and err.startswith("mlrepro: error: ") and "no MLflow database" in err and err.count("\n") == 1


def test_the_library_function_returns_the_result(store: Store, repo: Repo) -> None:
    from mlrepro.api import promote as promote_version

    version = register(store.client, "churn", store.good_run(repo))
    result = promote_version(repo.path, "churn", version, "champion", tracking_uri=store.uri, promoted_by="alice", dry_run=True)
    assert result.passed and not result.applied and result.dry_run
    assert result.tags["mlrepro.promoted_by"] == "alice"
    assert result.target.label == "alias @champion"


@pytest.mark.parametrize("to", ["v3", "@V12", "latest", "bad.alias"])
def test_an_alias_mlflow_refuses_is_refused_before_anything_is_written(store: Store, repo: Repo, to: str) -> None:
    """MLflow refuses version-like aliases (v3), `latest` and names outside [A-Za-z0-9_-]: say
    so up front, with the registry file's bytes unchanged (no trail tags on the version)."""
    version = register(store.client, "churn", store.good_run(repo))
    before = store.digest()
    code, _, err = promote(store, repo.path, "churn", version, "--to", to)
    assert code == 2, err
    assert err.startswith(f"mlrepro: error: --to {to!r}: ") and err.count("\n") == 1, err
    assert store.digest() == before
    assert version_tags(store, "churn", version) == {}


def test_a_move_the_registry_refuses_leaves_no_trail(store: Store, repo: Repo) -> None:
    """A registry that refuses the move (here a real SQLite trigger on the alias table) must
    not keep a trail claiming the version was promoted."""
    import sqlite3

    version = register(store.client, "churn", store.good_run(repo))
    with sqlite3.connect(store.path) as conn:
        conn.execute("CREATE TRIGGER frozen BEFORE INSERT ON registered_model_aliases BEGIN SELECT RAISE(ABORT, 'aliases are frozen'); END")
    code, _, err = promote(store, repo.path, "churn", version, "--to", "champion")
    assert code == 2, err
    assert err.startswith("mlrepro: error: model churn v1: cannot set alias @champion") and err.count("\n") == 1, err
    assert aliases(store, "churn") == {}
    assert not set(version_tags(store, "churn", version)) & TRAIL
