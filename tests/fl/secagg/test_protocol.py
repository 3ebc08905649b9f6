"""The whole protocol in memory: 3, 5 and 10 hospitals, dropouts at each stage, bad messages,
and what the server's data does and does not reveal."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from medfed.fl.secagg import constants as wire
from medfed.fl.secagg import crypto, protocol, quantize
from medfed.fl.secagg.protocol import ProtocolError
from tests.fl.secagg.test_primitives import seeded

CLIP = 10.0
LENGTH = 40


@dataclass
class Run:
    hospitals: int
    seed: int = 0
    drop_before_share: set[int] = field(default_factory=set)
    drop_before_masked: set[int] = field(default_factory=set)
    drop_before_unmask: set[int] = field(default_factory=set)
    corrupt_ciphertext: tuple[int, int] | None = None  # (sender, recipient)
    corrupt_share_from: int | None = None

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.random_bytes, self.random_below = seeded(self.seed)
        self.ids = list(range(1, self.hospitals + 1))
        self.threshold = protocol.default_threshold(self.hospitals)
        self.updates = {u: rng.normal(0, 0.05, LENGTH) for u in self.ids}
        self.rows = {u: int(rng.integers(50, 5000)) for u in self.ids}
        self.ref = f"round-{self.seed}"

    def execute(self) -> tuple[np.ndarray, int, list[int], dict[str, object]]:
        states, roster = {}, {}
        for u in self.ids:
            states[u], message = protocol.advertise(self.ref, u, self.random_bytes)
            roster[u] = protocol.check_advertisement(message)
        ciphertexts = {
            u: protocol.share_keys(
                states[u], roster, self.threshold, self.random_bytes, self.random_below
            )
            for u in self.ids
            if u not in self.drop_before_share
        }
        if self.corrupt_ciphertext:
            sender, recipient = self.corrupt_ciphertext
            ciphertexts[sender][recipient] = b"\x00" * len(ciphertexts[sender][recipient])
        routed = protocol.route(ciphertexts, roster, self.threshold)
        masked = {
            u: protocol.masked_input(
                states[u], routed[u], quantize.encode(self.updates[u], self.rows[u], CLIP)
            )
            for u in routed
            if u not in self.drop_before_masked
        }
        responses = {
            u: protocol.unmask(states[u], sorted(masked), self.threshold)
            for u in masked
            if u not in self.drop_before_unmask
        }
        if self.corrupt_share_from in responses:
            answer = responses[self.corrupt_share_from]  # type: ignore[index]
            for owner in answer[wire.SELF_SEED_SHARES]:
                answer[wire.SELF_SEED_SHARES][owner] = "01" * 66
        total = protocol.unmask_sum(
            self.ref, roster, sorted(routed), masked, responses, self.threshold
        )
        mean, rows = quantize.decode_mean(total)
        server_view = {
            "roster": roster,
            "ciphertexts": ciphertexts,
            "masked": masked,
            "responses": responses,
        }
        return mean, rows, sorted(masked), server_view

    def expected(self, survivors: list[int]) -> np.ndarray:
        weights = np.asarray([self.rows[u] for u in survivors], dtype=np.float64)
        stacked = np.stack([self.updates[u] for u in survivors])
        return np.asarray(weights @ stacked / weights.sum())


def relative_error(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.linalg.norm(found - exact) / np.linalg.norm(exact))


@pytest.mark.parametrize("hospitals", [3, 5, 10])
def test_without_dropouts_the_server_gets_the_weighted_mean(hospitals: int) -> None:
    run = Run(hospitals, seed=hospitals)
    mean, rows, survivors, _ = run.execute()
    assert survivors == run.ids and rows == sum(run.rows.values())
    assert relative_error(mean, run.expected(survivors)) <= 1e-6


@pytest.mark.parametrize(
    ("hospitals", "stage"),
    [(n, s) for n in (3, 5, 10) for s in ("share", "masked", "unmask")],
)
def test_dropouts_up_to_n_minus_t_at_any_stage_do_not_stop_the_round(
    hospitals: int, stage: str
) -> None:
    threshold = protocol.default_threshold(hospitals)
    gone = set(range(hospitals - (hospitals - threshold) + 1, hospitals + 1))  # the last n - t
    run = Run(hospitals, seed=100 + hospitals, **{f"drop_before_{stage}": gone})  # type: ignore[arg-type]
    mean, rows, survivors, _ = run.execute()
    if stage == "unmask":
        assert survivors == run.ids  # their inputs count; they just did not help unmask
    else:
        assert survivors == [u for u in run.ids if u not in gone]
    assert rows == sum(run.rows[u] for u in survivors)
    assert relative_error(mean, run.expected(survivors)) <= 1e-6


@pytest.mark.parametrize("stage", ["share", "masked", "unmask"])
def test_more_than_n_minus_t_dropouts_fail_cleanly(stage: str) -> None:
    run = Run(5, seed=7, **{f"drop_before_{stage}": {3, 4, 5}})  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="fewer than t = 3"):
        run.execute()


def test_a_bad_ciphertext_or_a_bad_share_does_not_crash_the_round() -> None:
    run = Run(5, seed=11, corrupt_ciphertext=(2, 4))
    mean, _, survivors, _ = run.execute()
    assert relative_error(mean, run.expected(survivors)) <= 1e-6
    run = Run(5, seed=12, corrupt_share_from=1)
    mean, _, survivors, _ = run.execute()
    assert relative_error(mean, run.expected(survivors)) <= 1e-6


def test_malformed_messages_are_refused_with_reasons() -> None:
    with pytest.raises(ProtocolError, match="32 bytes"):
        protocol.check_advertisement(
            {wire.CIPHER_PUBLIC: "00", wire.MASK_PUBLIC: "00" * 32, wire.SEED_COMMITMENT: "00" * 32}
        )
    with pytest.raises(ProtocolError, match="hex"):
        protocol.check_advertisement({wire.CIPHER_PUBLIC: "zz"})
    with pytest.raises(ProtocolError, match="unsigned 64-bit"):
        protocol.check_masked(np.zeros(3, dtype=np.float64), 3)
    with pytest.raises(ProtocolError, match="40 unsigned"):
        protocol.check_masked(np.zeros(39, dtype=np.uint64), 40)
    random_bytes, _ = seeded(1)
    state, _ = protocol.advertise("round-a", 1, random_bytes)
    _other, message = protocol.advertise("round-a", 2, random_bytes)
    with pytest.raises(ProtocolError, match="own keys"):
        protocol.share_keys(
            state, {2: protocol.check_advertisement(message)}, 1, random_bytes, lambda p: 1
        )


def test_shares_for_another_round_are_useless() -> None:
    random_bytes, random_below = seeded(5)
    states, roster = {}, {}
    for u in (1, 2, 3):
        states[u], message = protocol.advertise("round-1", u, random_bytes)
        roster[u] = protocol.check_advertisement(message)
    sealed = {
        u: protocol.share_keys(states[u], roster, 2, random_bytes, random_below) for u in roster
    }
    states[1].round_ref = "round-2"  # a replay into another round cannot be opened
    states[1].received = {u: sealed[u][1] for u in roster}
    answer = protocol.unmask(states[1], [1, 2, 3], 2)
    assert answer[wire.SELF_SEED_SHARES] == {} and answer[wire.KEY_SHARES] == {}


def test_state_survives_a_restart_between_stages() -> None:
    random_bytes, _random_below = seeded(9)
    state, _ = protocol.advertise("r", 4, random_bytes)
    state.roster = {4: {wire.CIPHER_PUBLIC: "00"}}
    state.received = {4: b"\x01\x02"}
    assert protocol.ClientState.from_dict(state.as_dict()) == state


def test_the_servers_data_cannot_reproduce_any_single_update() -> None:
    run = Run(5, seed=21, drop_before_masked={5})
    mean, _, survivors, view = run.execute()
    masked = view["masked"]
    responses = view["responses"]
    assert isinstance(masked, dict) and isinstance(responses, dict)
    for u in survivors:
        # No survivor's masking key was ever revealed: its pairwise masks cannot be removed.
        assert all(u not in r[wire.KEY_SHARES] for r in responses.values())
        # Even after removing the self mask (its shares were revealed), the pairwise masks
        # leave noise spread over the whole 64-bit range instead of the update.
        seed = protocol._reconstruct(
            responses, wire.SELF_SEED_SHARES, u, run.threshold, lambda _: True
        )
        residue = quantize.subtract(masked[u], crypto.prg_uint64(seed, LENGTH + 1))
        guess, _ = quantize.decode_mean(
            np.concatenate([residue[:-1], np.asarray([run.rows[u]], dtype=np.uint64)])
        )
        assert np.max(np.abs(guess - run.updates[u])) > 1.0
    # The dropped hospital's input never reached the server at all.
    assert 5 not in masked
    assert relative_error(mean, run.expected(survivors)) <= 1e-6
