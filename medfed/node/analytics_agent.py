"""The node following the network's analytics queries: decline with the reason, answer by name,
or take part in the secure sum, as the hospital's policy says (node/analytics.py decides)."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from medfed.analytics.query import Query
from medfed.fl.secagg import constants as wire
from medfed.fl.secagg import protocol, quantize
from medfed.node.analytics import ANSWERED, AWAITING_APPROVAL, Asked, answer, consider
from medfed.node.client import ServerClient
from medfed.node.policy import load_policy
from medfed.node.state import AnalyticsEntry, NodeState

Say = Callable[[str], None]


def asked_from(listed: dict[str, Any]) -> Asked:
    fields = dict(listed["query"])
    for name in ("bins", "quantiles", "bands"):
        if name in fields:
            fields[name] = tuple(float(v) for v in fields[name])
    share = float(listed.get("share") or 1.0)
    return Asked(int(listed["id"]), Query(**fields), share, bool(listed["per_site"]))


class AnalyticsAgent:
    def __init__(
        self,
        node_home: Path,
        client: ServerClient,
        disease: str,
        path: Path,
        drop_columns: frozenset[str] = frozenset(),
        say: Say = print,
    ) -> None:
        self.node_home = node_home
        self.client = client
        self.disease = disease
        self.path = path
        self.drop_columns = drop_columns
        self.say = say
        self.state = NodeState(node_home)
        self.awaiting: set[int] = set()  # queries waiting for a person's approval here

    def step(self) -> None:
        """Act on every live query asked of this hospital."""
        for listed in self.client.analytics():
            self._act(listed)

    def _act(self, listed: dict[str, Any]) -> None:
        asked = asked_from(listed)
        mine = listed["my_status"]
        if mine not in ("asked", "joined"):
            return
        if asked.query.disease != self.disease:
            self._decline(asked, f"this node offers no {asked.query.disease} file to analytics")
            return
        if mine == "asked":
            verdict = consider(self.node_home, asked, self.path, drop_columns=self.drop_columns)
            if verdict is not None and verdict.status == AWAITING_APPROVAL:
                if asked.query_id not in self.awaiting:
                    self.say(f"Analytics query {asked.query_id} waits: {verdict.note}")
                self.awaiting.add(asked.query_id)
                return
            self.awaiting.discard(asked.query_id)
            if verdict is not None:
                self._decline(asked, verdict.note or "declined")
            elif asked.per_site:
                self._answer_by_name(asked)
            else:
                self._advertise(asked, listed["secagg"])
            return
        self._secure_step(asked, listed["secagg"], listed)

    def _decline(self, asked: Asked, reason: str) -> None:
        self.client.analytics_decline(asked.query_id, reason)
        self.say(f"Declined analytics query {asked.query_id}: {reason}")

    def _answer(self, asked: Asked) -> AnalyticsEntry | None:
        entry = answer(self.node_home, asked, self.path, drop_columns=self.drop_columns)
        if entry.status != ANSWERED:
            self._decline(asked, entry.note or entry.status)
            return None
        return entry

    def _answer_by_name(self, asked: Asked) -> None:
        entry = self._answer(asked)
        if entry is None or entry.answer is None:
            return
        self.client.analytics_answer(
            asked.query_id,
            {
                "answer": base64.b64encode(entry.answer).decode(),
                "epsilon": entry.epsilon,
                "delta": entry.delta,
                "min_cell": load_policy(self.node_home).analytics_min_cell,
            },
        )
        self.say(f"Answered analytics query {asked.query_id} by name (epsilon {entry.epsilon:g})")

    def _advertise(self, asked: Asked, view: dict[str, Any]) -> None:
        saved = self.state.load_analytics_secagg(asked.query_id)
        if saved is None:
            client_state, _ = protocol.advertise(view["ref"], int(view["client_id"]), os.urandom)
            self.state.save_analytics_secagg(asked.query_id, client_state.as_dict())
        else:
            client_state = protocol.ClientState.from_dict(saved)
        message: dict[str, Any] = dict(protocol.advertisement(client_state))
        message["min_cell"] = load_policy(self.node_home).analytics_min_cell
        self.client.analytics_send(asked.query_id, wire.ADVERTISE_KEYS, message)
        self.say(f"Joined the secure sum of analytics query {asked.query_id}")

    def _secure_step(self, asked: Asked, view: dict[str, Any], listed: dict[str, Any]) -> None:
        if view["sent"] or not view["expected"] or listed["status"] != "aggregating":
            return
        saved = self.state.load_analytics_secagg(asked.query_id)
        if saved is None:
            self._decline(asked, "this node lost its secure-aggregation keys for the query")
            return
        client_state = protocol.ClientState.from_dict(saved)
        stage, threshold = view["stage"], int(view["threshold"])
        roster = {int(k): v for k, v in view["roster"].items()}
        if stage == wire.SHARE_KEYS:
            sealed = protocol.share_keys(
                client_state, roster, threshold, os.urandom, secrets.randbelow
            )
            self.state.save_analytics_secagg(asked.query_id, client_state.as_dict())
            message = {wire.CIPHERTEXTS: {str(k): v.hex() for k, v in sealed.items()}}
            self.client.analytics_send(asked.query_id, stage, message)
        elif stage == wire.MASKED_INPUT:
            entry = self._answer(asked)
            if entry is None or entry.answer is None:
                return
            encoded = quantize.encode_values(np.frombuffer(entry.answer, dtype="<f8"))
            received = {int(k): bytes.fromhex(v) for k, v in view["ciphertexts"].items()}
            masked = protocol.masked_input(client_state, received, encoded)
            self.state.save_analytics_secagg(asked.query_id, client_state.as_dict())
            self.client.analytics_send(
                asked.query_id,
                stage,
                {
                    wire.MASKED: base64.b64encode(masked.astype("<u8").tobytes()).decode(),
                    "epsilon": entry.epsilon,
                    "delta": entry.delta,
                },
            )
            self.say(
                f"Sent the masked answer to analytics query {asked.query_id} "
                f"(epsilon {entry.epsilon:g}, its share {asked.share:.3g} of the noise)"
            )
        elif stage == wire.UNMASKING:
            shares = protocol.unmask(client_state, [int(v) for v in view["survivors"]], threshold)
            self.client.analytics_send(asked.query_id, stage, shares)
