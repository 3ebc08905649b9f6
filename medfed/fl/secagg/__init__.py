"""Secure aggregation (Bonawitz et al., CCS 2017): the server learns only the sum of updates.

Layers, each usable alone: `crypto` (key agreement, AEAD, PRG) → `shamir` (secret sharing)
→ `quantize` (fixed point, modular arithmetic) → `masking` (pairwise and self masks) →
`protocol` (the four stages, on each side). Stage names and wire keys are in `constants`.
"""
