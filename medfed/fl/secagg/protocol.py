"""The four stages of secure aggregation (Bonawitz et al. 2017, semi-honest server), as one
function per stage on each side. Pure: messages in, messages and state out; the caller moves
them over HTTP and persists the state dataclasses (`as_dict` / `from_dict`) between stages.

    hospital u                                   server
    advertise: (c_pk, s_pk, H(b_u))        ──►   roster U1 (≥ t)
    share_keys: Enc_{u→v}(share_v(b_u),
                share_v(s_sk_u)) for v ∈ U1 ──►  route to recipients; U2 = senders (≥ t)
    masked_input: y_u = x_u + PRG(b_u)
                + Σ_{v∈U2} ±PRG(s_uv)           ──►  U3 = senders (≥ t)
    unmask: shares of b_v (v ∈ U3) and of
            s_sk_v (v ∈ U2 \\ U3)              ──►  sum of y_u - sum of PRG(b_v) - dropped pairwise masks

The server learns the sum and which hospitals dropped out, nothing about any single x_u: each
y_u is hidden by the self mask b_u, whose shares are only released for survivors, while the
pairwise-mask key of a survivor is never released.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from medfed.fl.secagg import constants as wire
from medfed.fl.secagg import crypto, masking, shamir


class ProtocolError(ValueError):
    """A message or a state that the protocol refuses; the message says which and why."""


def default_threshold(cohort: int) -> int:
    """More than half of the cohort."""
    return cohort // 2 + 1


def _commitment(round_ref: str, seed: bytes) -> str:
    return hashlib.sha256(f"medfed-secagg/{round_ref}/seed/".encode() + seed).hexdigest()


def _share_context(round_ref: str, a: int, b: int) -> bytes:
    low, high = sorted((a, b))
    return f"medfed-secagg/{round_ref}/share/{low}/{high}".encode()


def _associated(round_ref: str, sender: int, recipient: int) -> bytes:
    return f"medfed-secagg/{round_ref}/{sender}->{recipient}".encode()


# The hospital's side -------------------------------------------------------------------------


@dataclass
class ClientState:
    round_ref: str
    client_id: int
    cipher_private: bytes
    mask_private: bytes
    self_seed: bytes
    roster: dict[int, dict[str, str]] = field(default_factory=dict)
    received: dict[int, bytes] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "round_ref": self.round_ref,
            "client_id": self.client_id,
            "cipher_private": self.cipher_private.hex(),
            "mask_private": self.mask_private.hex(),
            "self_seed": self.self_seed.hex(),
            "roster": {str(k): v for k, v in self.roster.items()},
            "received": {str(k): v.hex() for k, v in self.received.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClientState:
        return cls(
            data["round_ref"],
            int(data["client_id"]),
            bytes.fromhex(data["cipher_private"]),
            bytes.fromhex(data["mask_private"]),
            bytes.fromhex(data["self_seed"]),
            {int(k): v for k, v in data["roster"].items()},
            {int(k): bytes.fromhex(v) for k, v in data["received"].items()},
        )


def advertise(
    round_ref: str, client_id: int, random_bytes: crypto.RandomBytes
) -> tuple[ClientState, dict[str, str]]:
    if client_id <= 0:
        raise ProtocolError("client ids are positive (they are the Shamir evaluation points)")
    state = ClientState(
        round_ref,
        client_id,
        crypto.new_private_key(random_bytes),
        crypto.new_private_key(random_bytes),
        random_bytes(crypto.KEY_BYTES),
    )
    return state, advertisement(state)


def advertisement(state: ClientState) -> dict[str, str]:
    """The public keys and seed commitment of a hospital's state (the same on every resend)."""
    return {
        wire.CIPHER_PUBLIC: crypto.public_key(state.cipher_private).hex(),
        wire.MASK_PUBLIC: crypto.public_key(state.mask_private).hex(),
        wire.SEED_COMMITMENT: _commitment(state.round_ref, state.self_seed),
    }


def share_keys(
    state: ClientState,
    roster: dict[int, dict[str, str]],
    threshold: int,
    random_bytes: crypto.RandomBytes,
    random_below: shamir.RandomBelow,
) -> dict[int, bytes]:
    """Encrypted shares of the self-mask seed and the masking key, one ciphertext per member."""
    if len(roster) < threshold:
        raise ProtocolError(f"the roster has {len(roster)} members, fewer than t = {threshold}")
    mine = roster.get(state.client_id)
    if mine is None or mine[wire.MASK_PUBLIC] != crypto.public_key(state.mask_private).hex():
        raise ProtocolError("the roster does not carry this hospital's own keys")
    state.roster = roster
    holders = sorted(roster)
    seed_shares = shamir.split(
        int.from_bytes(state.self_seed, "big"), holders, threshold, random_below
    )
    key_shares = shamir.split(
        int.from_bytes(state.mask_private, "big"), holders, threshold, random_below
    )
    ciphertexts = {}
    for holder in holders:
        key = crypto.agree(
            state.cipher_private,
            bytes.fromhex(roster[holder][wire.CIPHER_PUBLIC]),
            _share_context(state.round_ref, state.client_id, holder),
        )
        plaintext = (
            struct.pack(">II", state.client_id, holder)
            + shamir.to_bytes(seed_shares[holder])
            + shamir.to_bytes(key_shares[holder])
        )
        ciphertexts[holder] = crypto.encrypt(
            key, plaintext, _associated(state.round_ref, state.client_id, holder), random_bytes
        )
    return ciphertexts


def masked_input(state: ClientState, received: dict[int, bytes], encoded: np.ndarray) -> np.ndarray:
    """y_u: the encoded update under the self mask and a pairwise mask for every member of U2."""
    if state.client_id not in received:
        raise ProtocolError("the server did not route this hospital's own share back")
    unknown = set(received) - set(state.roster)
    if unknown:
        raise ProtocolError(f"ciphertexts from hospitals outside the roster: {sorted(unknown)}")
    state.received = dict(received)
    peers = {v: bytes.fromhex(state.roster[v][wire.MASK_PUBLIC]) for v in received}
    return masking.mask(
        encoded, state.client_id, state.mask_private, state.self_seed, peers, state.round_ref
    )


def unmask(state: ClientState, survivors: list[int], threshold: int) -> dict[str, dict[int, str]]:
    """Reveal the shares the server needs: b_v for survivors, s_sk_v for those who dropped out.

    Never both for one hospital: that would unmask its individual input.
    """
    senders = set(state.received)
    survived = set(survivors)
    if state.client_id not in survived:
        raise ProtocolError("this hospital is not among the survivors it is asked about")
    if len(survived) < threshold:
        raise ProtocolError(f"only {len(survived)} survivors, fewer than t = {threshold}")
    if not survived <= senders:
        raise ProtocolError("survivors must be hospitals whose shares this hospital received")
    seeds: dict[int, str] = {}
    keys: dict[int, str] = {}
    for sender in sorted(senders):
        try:
            seed_share, key_share = _open(state, sender)
        except (crypto.DecryptionFailed, ProtocolError):
            continue  # a bad ciphertext costs that sender one share, not the round
        if sender in survived:
            seeds[sender] = shamir.to_bytes(seed_share).hex()
        else:
            keys[sender] = shamir.to_bytes(key_share).hex()
    return {wire.SELF_SEED_SHARES: seeds, wire.KEY_SHARES: keys}


def _open(state: ClientState, sender: int) -> tuple[int, int]:
    key = crypto.agree(
        state.cipher_private,
        bytes.fromhex(state.roster[sender][wire.CIPHER_PUBLIC]),
        _share_context(state.round_ref, sender, state.client_id),
    )
    plaintext = crypto.decrypt(
        key, state.received[sender], _associated(state.round_ref, sender, state.client_id)
    )
    if len(plaintext) != 8 + 2 * shamir.SHARE_BYTES:
        raise ProtocolError("a share message has the wrong length")
    source, recipient = struct.unpack(">II", plaintext[:8])
    if (source, recipient) != (sender, state.client_id):
        raise ProtocolError("a share message names the wrong hospitals")
    first = shamir.from_bytes(plaintext[8 : 8 + shamir.SHARE_BYTES])
    second = shamir.from_bytes(plaintext[8 + shamir.SHARE_BYTES :])
    return first, second


# The server's side ---------------------------------------------------------------------------


def check_advertisement(message: dict[str, str]) -> dict[str, str]:
    try:
        cipher = bytes.fromhex(message[wire.CIPHER_PUBLIC])
        mask_key = bytes.fromhex(message[wire.MASK_PUBLIC])
        commitment = bytes.fromhex(message[wire.SEED_COMMITMENT])
    except (KeyError, ValueError, TypeError):
        raise ProtocolError(
            "an advertisement needs hex cipher_public, mask_public, seed_commitment"
        ) from None
    if (
        len(cipher) != crypto.KEY_BYTES
        or len(mask_key) != crypto.KEY_BYTES
        or len(commitment) != 32
    ):
        raise ProtocolError("advertised keys have 32 bytes and the commitment is a SHA-256")
    return {k: message[k] for k in (wire.CIPHER_PUBLIC, wire.MASK_PUBLIC, wire.SEED_COMMITMENT)}


def check_shared(message: dict[str, Any], roster: Iterable[int | str]) -> dict[str, str]:
    """A share_keys message: hex ciphertexts addressed to exactly the roster."""
    ciphertexts = message[wire.CIPHERTEXTS]
    if {int(k) for k in ciphertexts} != {int(k) for k in roster}:
        raise ProtocolError("the ciphertexts must be addressed to exactly the roster")
    for value in ciphertexts.values():
        bytes.fromhex(value)
    return {str(int(k)): str(v) for k, v in ciphertexts.items()}


def check_unmasking(message: dict[str, Any]) -> dict[str, dict[str, str]]:
    """An unmasking message: the shares a survivor releases, by kind and owner."""
    return {
        kind: {str(int(k)): str(v) for k, v in message[kind].items()}
        for kind in (wire.SELF_SEED_SHARES, wire.KEY_SHARES)
    }


def read_unmasking(payload: dict[str, dict[str, str]]) -> dict[str, dict[int, str]]:
    """A stored unmasking message as `unmask_sum` takes it."""
    return {kind: {int(k): v for k, v in values.items()} for kind, values in payload.items()}


def unmask_stored(
    ref: str,
    state: dict[str, Any],
    masked_payloads: dict[int, bytes],
    unmasking_payloads: dict[int, bytes],
) -> tuple[np.ndarray, list[int]]:
    """`unmask_sum` over a stage's stored protocol state and messages (masked inputs as
    little-endian uint64 words, unmasking responses as JSON): the sum and the survivors."""
    survivors = set(state["survivors"])
    masked = {
        sender: np.frombuffer(payload, dtype="<u8").astype(np.uint64)
        for sender, payload in masked_payloads.items()
        if sender in survivors
    }
    responses = {
        sender: read_unmasking(json.loads(payload))
        for sender, payload in unmasking_payloads.items()
        if sender in survivors
    }
    roster = {int(k): v for k, v in state["roster"].items()}
    total = unmask_sum(ref, roster, state["shared"], masked, responses, int(state["threshold"]))
    return total, sorted(masked)


def route(
    ciphertexts: dict[int, dict[int, bytes]], roster: dict[int, dict[str, str]], threshold: int
) -> dict[int, dict[int, bytes]]:
    """Per recipient, the ciphertexts addressed to it from every sender in U2 (the senders)."""
    senders = set(ciphertexts)
    if len(senders) < threshold:
        raise ProtocolError(
            f"only {len(senders)} hospitals shared keys, fewer than t = {threshold}"
        )
    for sender, addressed in ciphertexts.items():
        if sender not in roster or set(addressed) != set(roster):
            raise ProtocolError(f"hospital {sender} did not address exactly the roster")
    return {
        recipient: {sender: ciphertexts[sender][recipient] for sender in senders}
        for recipient in senders
    }


def check_masked(vector: np.ndarray, length: int) -> np.ndarray:
    array = np.asarray(vector)
    if array.dtype != np.uint64 or array.shape != (length,):
        raise ProtocolError(f"a masked input is {length} unsigned 64-bit values")
    return array


def unmask_sum(
    round_ref: str,
    roster: dict[int, dict[str, str]],
    shared: list[int],
    masked: dict[int, np.ndarray],
    responses: dict[int, dict[str, dict[int, str]]],
    threshold: int,
) -> np.ndarray:
    """Σ x_u over the survivors U3 = masked.keys(), from at least t survivors' share responses."""
    survivors = sorted(masked)
    dropped = sorted(set(shared) - set(survivors))
    if len(responses) < threshold:
        raise ProtocolError(
            f"only {len(responses)} hospitals answered the unmasking, fewer than t = {threshold}"
        )
    keystreams: list[crypto.Keystream] = []
    for survivor in survivors:
        seed = _reconstruct(
            responses,
            wire.SELF_SEED_SHARES,
            survivor,
            threshold,
            partial(_seed_matches, round_ref, roster[survivor][wire.SEED_COMMITMENT]),
        )
        keystreams.append((seed, True))
    for gone in dropped:
        private = _reconstruct(
            responses,
            wire.KEY_SHARES,
            gone,
            threshold,
            partial(_key_matches, roster[gone][wire.MASK_PUBLIC]),
        )
        for survivor in survivors:
            # The survivor added +PRG(s) for `gone` if survivor < gone, else -PRG(s); s is
            # recomputed from gone's side of the pair.
            seed = crypto.agree(
                private,
                bytes.fromhex(roster[survivor][wire.MASK_PUBLIC]),
                masking.pair_context(round_ref, survivor, gone),
            )
            keystreams.append((seed, survivor < gone))
    # Every seed is checked before any arithmetic; then one pass adds the masked vectors and
    # removes the masks, a cache-sized chunk at a time.
    total = np.zeros(len(next(iter(masked.values()))), dtype=np.uint64)
    crypto.combine(total, addends=[masked[u] for u in survivors], keystreams=keystreams)
    return total


def _seed_matches(round_ref: str, commitment: str, seed: bytes) -> bool:
    return _commitment(round_ref, seed) == commitment


def _key_matches(public_hex: str, private: bytes) -> bool:
    return crypto.public_key(private).hex() == public_hex


def _reconstruct(
    responses: dict[int, dict[str, dict[int, str]]],
    kind: str,
    owner: int,
    threshold: int,
    valid: Callable[[bytes], bool],
) -> bytes:
    """The 32-byte secret of `owner` from the responders' shares, checked against its commitment
    or public key; a bad share is tolerated when enough good ones remain (one left out at a time)."""
    shares: dict[int, int] = {}
    for responder, answer in responses.items():
        encoded = answer.get(kind, {}).get(owner)
        if encoded is None:
            continue
        try:
            shares[responder] = shamir.from_bytes(bytes.fromhex(encoded))
        except ValueError:
            continue
    if len(shares) < threshold:
        raise ProtocolError(
            f"only {len(shares)} shares for hospital {owner}, fewer than t = {threshold}"
        )
    candidates = [shares] + [{k: v for k, v in shares.items() if k != bad} for bad in shares]
    for subset in candidates:
        if len(subset) < threshold:
            continue
        value = shamir.combine(subset)
        if value < 2 ** (8 * crypto.KEY_BYTES):
            secret = value.to_bytes(crypto.KEY_BYTES, "big")
            if valid(secret):
                return secret
    raise ProtocolError(f"the shares for hospital {owner} do not reconstruct its committed secret")
