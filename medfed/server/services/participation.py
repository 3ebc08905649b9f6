"""What hospitals see of the rounds: their history with its impact, and the leaderboard."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.core.audit_actions import AuditAction
from medfed.fl import rounds as machine
from medfed.server.db.tables import Hospital, ModelVersion, Round, RoundMember
from medfed.server.services import audit

OPTED_OUT = "A hospital that chose not to be named"
COUNTED = ("submitted", "evaluated")


def _change(values: dict[str, Any] | None, metric: str) -> float | None:
    """Candidate minus the version it was judged against (the served one; older rounds: base)."""
    reference = (values or {}).get("served") or (values or {}).get("base")
    if reference is None or not values or values.get("candidate") is None:
        return None
    base, candidate = reference.get(metric), values["candidate"].get(metric)
    if base is None or candidate is None:
        return None
    return round(float(candidate) - float(base), 4)


def history(session: Session, hospital_id: int) -> list[dict[str, Any]]:
    """Each round the hospital joined: outcome, change in global metrics, impact on its own data."""
    members = session.scalars(
        select(RoundMember)
        .where(RoundMember.hospital_id == hospital_id)
        .order_by(RoundMember.round_id.desc())
    )
    promoted = list(
        session.scalars(
            select(ModelVersion).where(ModelVersion.stage == "promoted").order_by(ModelVersion.id)
        )
    )
    entries = []
    for member in members:
        round_ = member.round
        server = round_.evaluation.get("server")
        result = round_.result_version
        in_line = result is not None and member.status in COUNTED
        entries.append(
            {
                "round_id": round_.id,
                "disease": round_.disease,
                "number": round_.number,
                "round_status": round_.status,
                "my_status": member.status,
                "rows": member.rows,
                "result_version": round_.result_version.version if round_.result_version else None,
                "reason": round_.reason,
                "global_change": {m: _change(server, m) for m in ("accuracy", "roc_auc")},
                "local_impact": {m: _change(member.evaluation, m) for m in ("accuracy", "roc_auc")},
                "closed_at": round_.closed_at,
                "in_training_line": in_line,
                "reached_doctors": _carrier(promoted, result) if in_line else None,
            }
        )
    return entries


def _carrier(promoted: list[ModelVersion], result: ModelVersion | None) -> str | None:
    """The first promoted version that carries the round's result: the result itself, or a later
    checkpoint of the same training line (each round continues from the one before)."""
    if result is None:
        return None
    for version in promoted:
        same_line = version.disease == result.disease and version.major == result.major
        if same_line and version.id >= result.id:
            return version.version
    return None


@dataclass
class _Tally:
    rounds: int = 0
    deployed: int = 0
    rows: int = 0


def leaderboard(session: Session) -> list[dict[str, Any]]:
    """Hospitals by accepted updates; those who opted out are listed without their name."""
    tallies: dict[int, _Tally] = {}
    rows = session.execute(
        select(RoundMember.hospital_id, RoundMember.rows, Round.status)
        .join(Round, Round.id == RoundMember.round_id)
        .where(RoundMember.status.in_(COUNTED))
    ).all()
    for hospital_id, member_rows, status in rows:
        tally = tallies.setdefault(hospital_id, _Tally())
        tally.rounds += 1
        tally.rows += member_rows
        tally.deployed += status == machine.DEPLOYED
    hospitals = {h.id: h for h in session.scalars(select(Hospital).where(Hospital.id.in_(tallies)))}
    board = [
        {
            "hospital": hospitals[i].name if hospitals[i].show_on_leaderboard else OPTED_OUT,
            "rounds": t.rounds,
            "deployed_rounds": t.deployed,
            "rows": t.rows,
        }
        for i, t in tallies.items()
    ]
    return sorted(board, key=lambda e: (-e["deployed_rounds"], -e["rounds"], -e["rows"]))


def set_leaderboard_choice(session: Session, hospital: Hospital, show: bool, *, actor: str) -> None:
    hospital.show_on_leaderboard = show
    audit.record(
        session,
        actor=actor,
        action=AuditAction.LEADERBOARD_CHOICE,
        object=f"hospital:{hospital.id}",
        details={"show": show},
    )
