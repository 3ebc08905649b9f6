"""Stage names and wire keys of the secure-aggregation protocol: one vocabulary for both sides."""

from __future__ import annotations

ADVERTISE_KEYS = "advertise_keys"
SHARE_KEYS = "share_keys"
MASKED_INPUT = "masked_input"
UNMASKING = "unmasking"
DONE = "done"
STAGES = (ADVERTISE_KEYS, SHARE_KEYS, MASKED_INPUT, UNMASKING, DONE)

CIPHER_PUBLIC = "cipher_public"
MASK_PUBLIC = "mask_public"
SEED_COMMITMENT = "seed_commitment"
CIPHERTEXTS = "ciphertexts"
MASKED = "masked"
SELF_SEED_SHARES = "self_seed_shares"
KEY_SHARES = "key_shares"
