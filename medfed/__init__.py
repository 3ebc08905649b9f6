"""MedFed: federated learning for hospital networks."""

__version__ = "0.1.0"
