"""Federated analytics: population statistics asked of the hospitals' rows, answered with
noise and secure aggregation (pure parts here; the node answers, the server asks and releases)."""
