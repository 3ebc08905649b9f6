"""MedFed server web package."""
