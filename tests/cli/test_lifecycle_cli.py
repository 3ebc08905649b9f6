"""An administrator rotates a node's credential, deactivates its hospital and revokes it, from
the server host's command line, while the node asks a real server what it thinks of it."""

from __future__ import annotations

from pathlib import Path

from tests.node.conftest import site_csv
from tests.utils.processes import (
    hospital_token,
    medfed_env,
    node_credential,
    run_medfed,
    running_server,
)


def test_rotate_deactivate_and_revoke_from_the_command_line(
    tmp_path: Path, database_url: str, datasets_dir: Path
) -> None:
    env = medfed_env(tmp_path / "home", database_url, tmp_path / "node-a")
    other = {**env, "MEDFED_NODE_HOME": str(tmp_path / "node-b")}
    token_a, token_b = hospital_token(env, "Hospital A"), hospital_token(env, "Hospital B")
    with running_server(env, tmp_path / "server.log") as server:
        for node_env, token in ((env, token_a), (other, token_b)):
            enrolled = run_medfed(
                ["node", "enroll", "--server", server.url, "--token", token], node_env
            )
            assert enrolled.returncode == 0, enrolled.stderr
        first = node_credential(tmp_path / "node-a")

        rotated = run_medfed(["admin", "rotate-node-credential", "1"], env)
        assert rotated.returncode == 0, rotated.stderr
        fresh = rotated.stdout.strip().splitlines()[-1]
        assert fresh.startswith("mfn_") and fresh != first
        stale = run_medfed(["node", "status"], env)
        assert stale.returncode == 1 and "not valid" in stale.stdout
        foreign = run_medfed(
            ["node", "set-credential"], env, stdin=node_credential(tmp_path / "node-b")
        )
        assert foreign.returncode != 0 and "not to this node" in foreign.stderr
        assert node_credential(tmp_path / "node-a") == first  # a refusal changes nothing
        installed = run_medfed(["node", "set-credential"], env, stdin=fresh + "\n")
        assert installed.returncode == 0, installed.stderr
        assert run_medfed(["node", "status"], env).returncode == 0

        off = run_medfed(
            ["admin", "deactivate-hospital", "Hospital A", "--reason", "audit pending"], env
        )
        assert off.returncode == 0, off.stderr
        refused = run_medfed(["node", "status"], env)
        assert refused.returncode == 1 and "deactivated" in refused.stdout
        assert run_medfed(["node", "status"], other).returncode == 0  # B is not affected
        listed = run_medfed(["admin", "list-nodes"], env)
        assert "hospital deactivated" in listed.stdout
        on = run_medfed(["admin", "reactivate-hospital", "1", "--reason", "audit passed"], env)
        assert on.returncode == 0 and run_medfed(["node", "status"], env).returncode == 0

        revoked = run_medfed(["admin", "revoke-node", "1", "--reason", "disk stolen"], env)
        assert revoked.returncode == 0, revoked.stderr
        gone = run_medfed(["node", "status"], env)
        assert gone.returncode == 1 and "revoked by an administrator" in gone.stdout
        rows = site_csv(datasets_dir, "cleveland", tmp_path / "cleveland.csv")
        stopped = run_medfed(
            ["node", "participate", str(rows), "--disease", "heart"], env, timeout=60
        )
        assert stopped.returncode != 0  # a revoked node stops instead of retrying forever
        assert "revoked by an administrator" in stopped.stdout + stopped.stderr
        twice = run_medfed(["admin", "revoke-node", "1", "--reason", "again"], env)
        assert twice.returncode != 0 and "already revoked" in twice.stderr
        events = run_medfed(["admin", "audit", "list", "--limit", "50"], env).stdout
        for action in (
            "node_credential_rotated",
            "hospital_deactivated",
            "hospital_reactivated",
            "node_revoked",
        ):
            assert action in events
        log = server.log()
    for secret in (first, fresh, token_a):
        assert secret not in log
