"""MedFed cli package."""
