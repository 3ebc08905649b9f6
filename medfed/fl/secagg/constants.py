"""Stage names and wire keys of the secure-aggregation protocols (pairwise masking, and CKKS
homomorphic encryption): one vocabulary for both sides."""

from __future__ import annotations

ADVERTISE_KEYS = "advertise_keys"
SHARE_KEYS = "share_keys"
MASKED_INPUT = "masked_input"
UNMASKING = "unmasking"
DONE = "done"
STAGES = (ADVERTISE_KEYS, SHARE_KEYS, MASKED_INPUT, UNMASKING, DONE)
# Homomorphic rounds: keys advertised as above, then one hospital makes the round's CKKS key and
# seals it to each of the others, every hospital sends its encrypted update, and hospitals
# decrypt the encrypted sum the server made.
HE_KEYS = "he_keys"
ENCRYPTED_INPUT = "encrypted_input"
DECRYPTING = "decrypting"
HE_STAGES = (ADVERTISE_KEYS, HE_KEYS, ENCRYPTED_INPUT, DECRYPTING, DONE)
MASKING, HOMOMORPHIC = "masking", "homomorphic"

CIPHER_PUBLIC = "cipher_public"
MASK_PUBLIC = "mask_public"
SEED_COMMITMENT = "seed_commitment"
CIPHERTEXTS = "ciphertexts"
MASKED = "masked"
SELF_SEED_SHARES = "self_seed_shares"
KEY_SHARES = "key_shares"
PUBLIC_CONTEXT = "public_context"
SEALED = "sealed"
KEY_HOLDER = "key_holder"
