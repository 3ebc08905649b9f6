"""Homomorphic encryption of model updates (CKKS through TenSEAL): the cohort's keys, the
packing of an update into ciphertexts, their sum and its decryption."""
