"""MedFed fl package."""
