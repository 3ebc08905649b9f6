"""MedFed ml package."""
