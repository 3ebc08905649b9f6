"""`medfed campaigns` on the server host: the same checks and audit trail as the API."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from medfed.server.db.engine import make_engine, make_session_factory
from medfed.server.db.tables import AuditEvent, Campaign
from tests.utils.processes import medfed_env, run_medfed


def test_start_pause_resume_cancel_from_the_command_line(tmp_path: Path, database_url: str) -> None:
    env = medfed_env(tmp_path / "home", database_url, tmp_path / "node")
    bad = run_medfed(
        ["campaigns", "start", "heart", "--rounds", "10", "--epsilon-budget", "0.001"], env
    )
    assert bad.returncode == 1 and "epsilon_budget" in bad.stderr and "certify" in bad.stderr
    unknown = run_medfed(["campaigns", "start", "heart", "--set", "local_epochs=lots"], env)
    assert unknown.returncode == 1 and "round.local_epochs" in unknown.stderr
    started = run_medfed(
        [
            "campaigns",
            "start",
            "heart",
            "--rounds",
            "4",
            "--epsilon-budget",
            "4",
            "--plain",
            "--set",
            "local_epochs=2",
        ],
        env,
    )
    assert started.returncode == 0, started.stderr
    assert "Campaign 1 (heart): running; 0 of 4 rounds trained" in started.stdout
    assert "ε 4 per hospital for the whole campaign" in started.stdout
    paused = run_medfed(["campaigns", "pause", "1"], env)
    assert paused.returncode == 0 and "paused" in paused.stdout
    twice = run_medfed(["campaigns", "pause", "1"], env)
    assert twice.returncode == 1 and "cannot be paused" in twice.stderr
    assert run_medfed(["campaigns", "resume", "1"], env).returncode == 0
    cancelled = run_medfed(["campaigns", "cancel", "1", "--reason", "wrong settings"], env)
    assert cancelled.returncode == 0 and "cancelled: wrong settings" in cancelled.stdout
    listed = run_medfed(["campaigns", "list"], env)
    assert listed.returncode == 0 and "cancelled" in listed.stdout and "0/4" in listed.stdout
    missing = run_medfed(["campaigns", "show", "7"], env)
    assert missing.returncode == 1 and "no campaign 7" in missing.stderr
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        events = list(session.execute(select(AuditEvent.action, AuditEvent.actor)))
    engine.dispose()
    kinds = {action for action, _ in events}
    assert {
        "campaign_started",
        "campaign_paused",
        "campaign_resumed",
        "campaign_cancelled",
    } <= kinds
    assert all(actor.startswith("cli") for action, actor in events if action.startswith("campaign"))


def test_a_campaign_for_named_hospitals_from_the_command_line(
    tmp_path: Path, database_url: str
) -> None:
    env = medfed_env(tmp_path / "home", database_url, tmp_path / "node")
    for name in ("North General", "South General"):
        assert run_medfed(["admin", "create-hospital", name], env).returncode == 0
    common = ["campaigns", "start", "heart", "--rounds", "2", "--min-hospitals", "1"]
    unknown = run_medfed([*common, "--hospital", "Nowhere General"], env)
    assert unknown.returncode == 1 and "no hospital named 'Nowhere General'" in unknown.stderr
    started = run_medfed([*common, "--hospital", "north general", "--hospital", "2"], env)
    assert started.returncode == 0, started.stderr
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        config = session.scalars(select(Campaign.round_config)).one()
    engine.dispose()
    assert config["hospitals"] == [1, 2]
