"""Taking part in federated rounds: the node polls out, joins, trains, submits, evaluates.

The hospital's local policy decides first: a disease it does not train, a round that would
exceed its privacy cap, or (with `require_approval`) a round nobody at the hospital approved
is never joined. Every step is recorded in the node's own database before the next, so a node
restarted at any point carries on: a trained update is sent, not trained again (which would
spend privacy twice), and a step the server already has is not repeated.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from medfed.core.catalog import get_disease
from medfed.core.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    MedFedError,
    PermissionDenied,
    PrivacyTargetUnreachable,
)
from medfed.core.numbers import json_safe
from medfed.fl.he import ckks
from medfed.fl.he import keys as he_keys
from medfed.fl.privacy import (
    certifiable,
    choose_delta,
    effective_cap,
    smallest_epsilon,
)
from medfed.fl.promotion import paired_sums
from medfed.fl.rounds import MAX_VALIDATION_FRACTION
from medfed.fl.secagg import constants as wire
from medfed.fl.secagg import protocol, quantize
from medfed.ml import metrics
from medfed.ml.model import DiseaseModel
from medfed.node.analytics_agent import AnalyticsAgent
from medfed.node.backoff import Backoff
from medfed.node.budget import planned_charge, require_room
from medfed.node.client import ServerClient
from medfed.node.contribute import report_ledger
from medfed.node.intake import IntakeRefused, check_file
from medfed.node.inventory import report_quietly
from medfed.node.mappings import load as load_mappings
from medfed.node.policy import load_policy, network_cap
from medfed.node.state import Job, NodeState
from medfed.node.tls import Renewer
from medfed.node.training import (
    VALIDATION_FRACTION,
    TrainRequest,
    run_training,
    validation_probabilities,
)

logger = logging.getLogger("medfed.node.rounds")
Say = Callable[[str], None]
FINISHED = ("deployed", "rejected", "failed")
INVENTORY_SECONDS = 3600.0  # how often a participating node reports what it holds


@dataclass(frozen=True)
class Participation:
    """What this node offers to rounds: one disease and the file it trains on."""

    disease: str
    path: Path
    drop_columns: frozenset[str] = frozenset()
    skip_invalid_rows: bool = False
    # Fixes the validation rows and each round's training randomness, for experiments that must
    # repeat (`medfed simulate`); None in service: a random split kept by the node, fresh seeds.
    seed: int | None = None


class RoundAgent:
    def __init__(
        self, node_home: Path, client: ServerClient, offer: Participation, say: Say = print
    ) -> None:
        self.node_home = node_home
        self.client = client
        self.offer = offer
        self.say = say
        self.state = NodeState(node_home)
        self.spec = get_disease(offer.disease)
        self.renewer = Renewer(node_home, client)
        self._reported_at: float | None = None
        self.analytics = AnalyticsAgent(
            node_home, client, offer.disease, offer.path, offer.drop_columns, say
        )

    def step(self) -> None:
        """One look at the server: act on every round of this disease that needs this node."""
        self._act_on(self.client.rounds())

    def _act_on(self, listing: list[dict[str, Any]]) -> None:
        for round_ in sorted(listing, key=lambda r: r["id"]):
            if round_["disease"] == self.spec.id:
                self._act(round_)

    def run(
        self, *, poll_seconds: float = 2.0, rounds: int | None = None, wait_seconds: float = 25.0
    ) -> None:
        """Follow the server's rounds until `rounds` rounds this node joined have finished
        (forever if None).

        Long polls: the server holds each request until something this node acts on changes
        (or `wait_seconds` pass), so a stage's work starts as soon as the stage opens and an
        idle node costs the server one held request. A failed call (the server restarting, a
        proxy cutting the request) is retried with back-off; nothing is lost, since every step
        is recorded here and at the server before the next. `poll_seconds` paces retries after
        an error, and the polls of a server without long polls."""
        tag: str | None = None
        backoff = Backoff(first=min(poll_seconds, 1.0))
        while True:
            self._renew_certificate()
            self._report_inventory()
            try:
                answer = self.client.watch_rounds(tag, self._wait(wait_seconds, poll_seconds))
            except AuthenticationFailed:
                raise  # revoked or replaced: retrying cannot help, the message says what can
            except MedFedError as error:
                delay = backoff.next_delay()
                if backoff.failures == 1 or backoff.failures % 10 == 0:
                    self.say(f"! {error.message} Trying again (in {delay:.1f} s).")
                time.sleep(delay)
                continue
            if backoff.failures:
                self.say("The server answers again.")
                backoff.reset()
            if answer.analytics:  # the server says queries are asked of this hospital
                self._analytics_step()
            if answer.rounds is not None:
                self.client.acting_on(answer.tag)
                acted = self._acted(answer.rounds)
                handed = self.client.handed_tag()
                # Poll with the listing's tag once this node's own steps are in it; if a step
                # was handed none, with the tag acted on, which answers at once with the change.
                tag = (handed or answer.tag) if acted else None
            if self._finished_enough(rounds):
                return
            if answer.tag is None or tag is None:  # no long polls there, or a step to retry
                time.sleep(poll_seconds)

    def _renew_certificate(self) -> None:
        """Renew the client certificate before it expires, without anyone's help."""
        try:
            renewed = self.renewer.check()
        except MedFedError as error:  # the old one works until it expires: try again later
            self.say(f"! Could not renew this node's certificate: {error.message}")
            return
        if renewed:
            self.say(f"Renewed this node's client certificate (valid until {renewed}).")

    def _report_inventory(self) -> None:
        """Tell the network what this node holds: at start, then hourly."""
        now = time.monotonic()
        if self._reported_at is None or now - self._reported_at >= INVENTORY_SECONDS:
            report_quietly(self.node_home, self.client)
            self._reported_at = now

    def _wait(self, wait_seconds: float, poll_seconds: float) -> float:
        """A round awaiting this hospital's approval changes here, not at the server: ask
        often enough to see the approval."""
        awaiting = bool(self.analytics.awaiting) or any(
            e.status == "awaiting_approval" for e in self.state.round_entries()
        )
        return min(wait_seconds, max(poll_seconds, 1.0)) if awaiting else wait_seconds

    def _analytics_step(self) -> None:
        """Answer, decline or take the next secure step of the analytics queries; a failure is
        said and retried on the next look (every step is recorded here and at the server)."""
        try:
            self.analytics.step()
        except MedFedError as error:
            self.say(f"! analytics: {error.message}")
        except Exception as error:  # keep serving the hospital's rounds
            logger.exception("analytics step failed")
            self.say(f"! analytics: unexpected {type(error).__name__}: {error}")

    def _acted(self, listing: list[dict[str, Any]]) -> bool:
        """Act on a listing; False if a step failed and should be retried soon."""
        try:
            self._act_on(listing)
            return True
        except MedFedError as error:
            self.say(f"! {error.message}")
        except Exception as error:  # keep serving the hospital; the next poll retries
            logger.exception("round step failed")
            self.say(f"! unexpected {type(error).__name__}: {error}")
        return False

    def _finished_enough(self, rounds: int | None) -> bool:
        done = [
            e
            for e in self.state.round_entries()
            if e.status == "finished" and e.disease == self.spec.id
        ]
        return rounds is not None and len(done) >= rounds

    # One round ----------------------------------------------------------------------------

    def _act(self, round_: dict[str, Any]) -> None:
        round_id, status, mine = round_["id"], round_["status"], round_["my_status"]
        entry = self.state.round_entry(round_id)
        local = entry.status if entry else None
        if local in ("finished", "declined"):
            return
        if status in FINISHED:
            if mine is not None:
                self._finish(round_)
            return
        if status == "open" and mine is None:
            self._consider(round_, local)
        elif (
            status == "training"
            and mine in ("joined", "submitted")
            and round_["training"].get("secure")
        ):
            try:
                self._secure_step(round_)
            except Conflict as moved:
                # The round moved on between the listing and this step (a stage closed, or the
                # sum is already unmasked); the next poll acts on its new status.
                self.say(f"Round {round_id}: {moved.message}")
            except PrivacyTargetUnreachable as impossible:
                self._give_up(round_id, impossible)
        elif status == "training" and mine == "joined":
            try:
                self._train_and_submit(round_)
            except PrivacyTargetUnreachable as impossible:
                self._give_up(round_id, impossible)
        elif status == "evaluating" and mine == "submitted":
            self._evaluate(round_)

    def _give_up(self, round_id: int, impossible: PrivacyTargetUnreachable) -> None:
        # Retrying cannot help: the node leaves the round (the server treats it as a dropout).
        self._decline(round_id, impossible.message, f"({self.spec.id}) abandoned")

    def _decline(self, round_id: int, note: str, what: str) -> None:
        """Records that this hospital stays out of the round, and says why."""
        self._record(round_id, "declined", note=note)
        self.say(f"Round {round_id} {what}: {note}")

    def _record(self, round_id: int, status: str, **kwargs: str | None) -> None:
        self.state.set_round(round_id, self.spec.id, status, **kwargs)

    def _consider(self, round_: dict[str, Any], local: str | None) -> None:
        round_id = round_["id"]
        policy = load_policy(self.node_home)
        try:
            policy.check_disease(self.spec.id)
        except PermissionDenied as refused:
            self._decline(round_id, refused.message, f"({self.spec.id}) declined")
            return
        if policy.require_approval and local != "approved":
            if local != "awaiting_approval":
                self._record(round_id, "awaiting_approval")
                self.say(
                    f"Round {round_id} ({self.spec.id}) awaits your approval: "
                    f"medfed node rounds approve {round_id}"
                )
            return
        if round_["training"].get("homomorphic") and (missing := ckks.available()):
            self._decline(round_id, missing, "declined: it is homomorphic")
            return
        try:
            report = check_file(
                self.spec,
                self.offer.path,
                drop_columns=set(self.offer.drop_columns),
                min_rows=round_["min_rows"],
                skip_invalid_rows=self.offer.skip_invalid_rows,
                mappings=load_mappings(self.node_home),
            )
        except IntakeRefused as refused:
            self._decline(round_id, str(refused), "declined: the file cannot be used")
            return
        if not report.ok:
            self._decline(round_id, "; ".join(report.blocking), "declined: the file cannot be used")
            return
        try:
            request = self._request(round_)
        except InvalidInput as odd:
            self._decline(round_id, odd.message, "declined: its settings are out of range")
            return
        rows = int(report.valid_rows * (1 - request.validation_fraction))
        target = round_["training"]["target_epsilon"]
        if target is not None and not certifiable(float(target), choose_delta(rows)):
            note = (
                f"its epsilon {float(target):g} per round cannot be certified with this "
                f"hospital's {rows} rows (delta {choose_delta(rows):.1g} needs at least "
                f"{smallest_epsilon(choose_delta(rows)):.2g})"
            )
            self._decline(round_id, note, "declined")
            return
        try:
            self._check_budget(request, rows)
        except PermissionDenied as refused:
            self._decline(round_id, refused.message, f"({self.spec.id}) declined")
            return
        try:
            joined = self.client.join_round(round_id, rows)
        except (Conflict, InvalidInput) as refused:
            self._decline(round_id, refused.message, "not joined")
            return
        self._record(round_id, "joined")
        self.say(f"Joined round {round_id} ({self.spec.id}) with about {rows} training rows")
        if joined.get("secagg"):
            self._advertise(round_id, joined["secagg"])
        try:
            self._trained(round_)  # train while the other hospitals join
        except PrivacyTargetUnreachable as impossible:
            self._give_up(round_id, impossible)
            return
        self._record(round_id, "joined")  # trained; its update waits for the round's step

    def _advertise(self, round_id: int, secure: dict[str, Any]) -> None:
        """Advertise this hospital's keys for a secure round it has just joined, while the round
        is still open (the keys are saved first, so a restart sends the same ones). If this
        fails, the node sends them when the advertise_keys stage asks."""
        state, advertisement = protocol.advertise(
            str(secure["round_ref"]), int(secure["client_id"]), os.urandom
        )
        self.state.save_secagg(round_id, state.as_dict())
        try:
            self.client.secagg_send(round_id, wire.ADVERTISE_KEYS, advertisement)
        except (Conflict, InvalidInput) as refused:
            self.say(f"Round {round_id}: {refused.message} (the keys go at the next stage)")

    def _check_budget(self, request: TrainRequest, rows: int) -> None:
        """Refuses a round whose charge to the ledger (known from its settings and the rows
        before training) does not fit under the stricter of the two caps."""
        planned = planned_charge(
            self.state,
            self.spec.id,
            target=None if request.no_dp else request.target_epsilon,
            budget_rounds=request.budget_rounds,
            rows=rows,
            batch_size=request.batch_size,
            steps=request.steps,
            epochs=request.epochs,
        )
        network = self.client.policy()
        cap = effective_cap(network_cap(network), load_policy(self.node_home).epsilon_cap)
        require_room(self.state, self.spec.id, planned, cap, "This round")

    def _request(self, round_: dict[str, Any]) -> TrainRequest:
        training = round_["training"]
        target = training["target_epsilon"]
        rate = training.get("learning_rate")  # None: this node's default for the model
        return TrainRequest(
            disease=self.spec.id,
            path=self.offer.path,
            drop_columns=self.offer.drop_columns,
            skip_invalid_rows=self.offer.skip_invalid_rows,
            epochs=int(training["local_epochs"]),
            steps=None if training.get("local_steps") is None else int(training["local_steps"]),
            batch_size=int(training["batch_size"]),
            learning_rate=None if rate is None else float(rate),
            proximal_mu=float(training["proximal_mu"] or 0.0),
            validation_fraction=_fraction(training.get("validation_fraction")),
            target_epsilon=None if target is None else float(target),
            budget_rounds=int(training.get("budget_rounds") or 1),
            no_dp=target is None,
            split_seed=self.state.split_seed() if self.offer.seed is None else self.offer.seed,
            seed=None if self.offer.seed is None else self.offer.seed * 100_003 + round_["id"],
        )

    def _trained(self, round_: dict[str, Any]) -> tuple[Job, np.ndarray]:
        """This round's trained job and its clipped update, training first if needed (once)."""
        round_id = round_["id"]
        entry = self.state.round_entry(round_id)
        job = self.state.job(entry.job_id) if entry and entry.job_id else None
        if job is None or job.status not in ("trained", "contributed"):
            job_id = f"r{round_id}-{uuid.uuid4().hex[:10]}"
            self._record(round_id, "training", job_id=job_id)
            self.say(f"Training for round {round_id} from {round_['base_version']}")
            run_training(
                self.node_home,
                self.client,
                self._request(round_),
                job_id=job_id,
                base=self.client.round_base(round_),
            )
            job = self.state.job(job_id)
        assert job is not None and job.result is not None
        update = np.load(self.node_home / "jobs" / job.id / "update.npy").astype("<f4")
        return job, _clip(update, float(round_["training"]["norm_bound"]))

    def _metadata(self, job: Job) -> dict[str, Any]:
        result = job.result or {}
        return {
            "job_ref": job.id,
            "base_version": result["base_version"],
            "rows": result["rows_train"],
            "epsilon": result["epsilon"],
            "delta": result["delta"],
            "metrics": json_safe(metrics.scalars(result["metrics"])),
        }

    def _secure_step(self, round_: dict[str, Any]) -> None:
        """One step of secure aggregation: whatever the current stage needs from this hospital."""
        round_id = round_["id"]
        # A listing carries the view (a server from before that asks for it separately).
        view = round_.get("secagg") or self.client.secagg_view(round_id)
        if view["sent"] or not view["expected"]:
            return
        stage, threshold = view["stage"], int(view["threshold"])
        saved = self.state.load_secagg(round_id)
        state = protocol.ClientState.from_dict(saved) if saved else None
        if stage == wire.ADVERTISE_KEYS:
            if state is None:
                state, _ = protocol.advertise(view["round_ref"], int(view["client_id"]), os.urandom)
                self.state.save_secagg(round_id, state.as_dict())
            self._send(round_id, stage, protocol.advertisement(state))
            self._trained(round_)  # if not trained at the join: while the others share keys
            return
        if state is None:
            raise Conflict(f"Round {round_id}: this node lost its secure-aggregation keys.")
        if view.get("mode") == wire.HOMOMORPHIC:
            self._homomorphic_step(round_, view, state, saved or {})
            return
        roster = {int(k): v for k, v in view["roster"].items()}
        if stage == wire.SHARE_KEYS:
            sealed = protocol.share_keys(state, roster, threshold, os.urandom, secrets.randbelow)
            self.state.save_secagg(round_id, state.as_dict())
            message = {wire.CIPHERTEXTS: {str(k): v.hex() for k, v in sealed.items()}}
            self._send(round_id, stage, message)
        elif stage == wire.MASKED_INPUT:
            job, update = self._trained(round_)
            rows = int((job.result or {})["rows_train"])
            encoded = quantize.encode(update, rows, float(round_["training"]["norm_bound"]))
            received = {int(k): bytes.fromhex(v) for k, v in view["ciphertexts"].items()}
            masked = protocol.masked_input(state, received, encoded)
            self.state.save_secagg(round_id, state.as_dict())
            self._send(round_id, stage, self._metadata(job), masked.astype("<u8"))
            self.state.mark_contributed(job.id)
            report_ledger(self.state, self.client)
            self._record(round_id, "submitted")
            self.say(f"Sent the masked update for round {round_id} ({rows} rows)")
        elif stage == wire.UNMASKING:
            answer = protocol.unmask(state, [int(v) for v in view["survivors"]], threshold)
            self._send(round_id, stage, answer)

    def _homomorphic_step(
        self,
        round_: dict[str, Any],
        view: dict[str, Any],
        state: protocol.ClientState,
        saved: dict[str, Any],
    ) -> None:
        """A homomorphic round: make and seal the round's key (the key holder), send the update
        encrypted under it, decrypt the sum. The secret key is kept with the round's state on
        this node (saved before anything that depends on it is sent)."""
        round_id, stage, me = round_["id"], view["stage"], int(view["client_id"])
        roster = {int(k): v for k, v in view["roster"].items()}
        if stage == wire.HE_KEYS:  # only the key holder is asked
            made = ckks.new_keys()
            self.state.save_secagg(
                round_id, {**saved, "he_secret": made.secret.hex(), "he_public": made.public.hex()}
            )
            sealed = {
                str(k): he_keys.seal(
                    state.cipher_private,
                    bytes.fromhex(peer[wire.CIPHER_PUBLIC]),
                    view["round_ref"],
                    k,
                    made.secret,
                    os.urandom,
                ).hex()
                for k, peer in roster.items()
                if k != me
            }
            message = {
                wire.PUBLIC_CONTEXT: base64.b64encode(made.public).decode(),
                wire.SEALED: sealed,
            }
            self._send(round_id, stage, message)
            self.say(
                f"Made round {round_id}'s encryption key and sealed it to {len(sealed)} hospitals"
            )
            return
        public = base64.b64decode(view[wire.PUBLIC_CONTEXT])
        secret_hex = saved.get("he_secret")
        # A key this node made as holder but never sent was replaced by another member's.
        if secret_hex is None or saved.get("he_public") != public.hex():
            holder = roster[int(view[wire.KEY_HOLDER])]
            secret = he_keys.open_sealed(
                state.cipher_private,
                bytes.fromhex(holder[wire.CIPHER_PUBLIC]),
                view["round_ref"],
                me,
                bytes.fromhex(view[wire.SEALED]),
            )
            saved = {**saved, "he_secret": secret.hex(), "he_public": public.hex()}
            self.state.save_secagg(round_id, saved)
        else:
            secret = bytes.fromhex(secret_hex)
        length = int(view["length"])
        if stage == wire.ENCRYPTED_INPUT:
            job, update = self._trained(round_)
            rows = int((job.result or {})["rows_train"])
            bound = float(round_["training"]["norm_bound"])
            clipped = quantize.clip_update(update, bound)
            blob = ckks.encrypt(public, np.append(clipped, 1.0), rows)  # the last slot sums rows
            self._send(round_id, stage, self._metadata(job), np.frombuffer(blob, dtype=np.uint8))
            self.state.mark_contributed(job.id)
            report_ledger(self.state, self.client)
            self._record(round_id, "submitted")
            self.say(f"Sent the encrypted update for round {round_id} ({rows} rows)")
        elif stage == wire.DECRYPTING:
            total = ckks.decrypt(secret, public, self.client.secagg_aggregate(round_id), length)
            self._send(round_id, stage, {}, total.astype("<f8"))

    def _send(
        self, round_id: int, stage: str, message: dict[str, Any], vector: np.ndarray | None = None
    ) -> None:
        try:
            self.client.secagg_send(round_id, stage, message, vector)
        except Conflict:
            if not self.client.secagg_view(round_id)["sent"]:
                raise

    def _train_and_submit(self, round_: dict[str, Any]) -> None:
        round_id = round_["id"]
        job, update = self._trained(round_)
        result = job.result or {}
        try:
            self.client.submit_update(round_id, self._metadata(job), update)
        except Conflict:
            if self.client.round(round_id)["my_status"] == "joined":
                raise
        self.state.mark_contributed(job.id)
        report_ledger(self.state, self.client)
        self._record(round_id, "submitted")
        self.say(f"Sent the update for round {round_id} ({result['rows_train']} rows)")

    def _evaluate(self, round_: dict[str, Any]) -> None:
        """Score the version doctors are served and the candidate on the same local validation
        rows; send their metrics and the paired sums (numbers only, never a row)."""
        round_id = round_["id"]
        served = DiseaseModel.from_bytes(self.client.round_served(round_id))
        candidate = DiseaseModel.from_bytes(self.client.round_candidate(round_))
        request = replace(self._request(round_), no_dp=True)
        labels, served_probabilities = validation_probabilities(
            self.node_home, request, served, min_rows=1
        )
        same_rows, candidate_probabilities = validation_probabilities(
            self.node_home, request, candidate, min_rows=1
        )
        if not np.array_equal(labels, same_rows):  # the split is seeded; it cannot differ
            raise RuntimeError("the local validation rows differ between the two models")
        before = metrics.summary(labels, served_probabilities)
        after = metrics.summary(labels, candidate_probabilities)
        paired = paired_sums(labels, served_probabilities, candidate_probabilities)
        self.client.report_evaluation(
            round_id,
            {
                "rows": len(labels),
                "base": json_safe(metrics.scalars(before)),
                "candidate": json_safe(metrics.scalars(after)),
                "paired": {name: sums.as_dict() for name, sums in paired.items()},
            },
        )
        self._record(round_id, "evaluated")
        self.say(
            f"Round {round_id} candidate on local validation: accuracy "
            f"{before.get('accuracy')} (served) -> {after.get('accuracy')} ({len(labels)} rows)"
        )

    def _finish(self, round_: dict[str, Any]) -> None:
        outcome = round_["status"]
        if outcome == "deployed":
            note = f"promoted {round_['result_version']} to doctors"
        elif outcome == "rejected" and round_.get("result_version"):
            note = f"trained {round_['result_version']} (not promoted): {round_['reason']}"
        else:
            note = f"{outcome}: {round_['reason']}"
        self._record(round_["id"], "finished", note=note)
        self.say(f"Round {round_['id']} {note}")


def _fraction(value: Any) -> float:
    """The round's validation fraction; a server that predates the setting sends none."""
    if value is None:
        return VALIDATION_FRACTION
    fraction = float(value)
    if not 0 <= fraction <= MAX_VALIDATION_FRACTION:
        raise InvalidInput(
            f"the round asks to keep back {fraction:g} of the rows as validation; "
            f"this node accepts 0 to {MAX_VALIDATION_FRACTION:g}",
            field="validation_fraction",
        )
    return fraction


def _clip(update: np.ndarray, bound: float) -> np.ndarray:
    """Scale the update into the round's L2 bound (the server refuses a larger one)."""
    norm = float(np.linalg.norm(update))
    if norm <= bound:
        return update
    return (update * (bound / norm) * (1 - 1e-6)).astype("<f4")


def approve(node_home: Path, round_id: int) -> None:
    state = NodeState(node_home)
    entry = state.round_entry(round_id)
    if entry is None or entry.status != "awaiting_approval":
        raise Conflict(f"Round {round_id} is not waiting for approval at this node.")
    state.set_round(round_id, entry.disease, "approved")
