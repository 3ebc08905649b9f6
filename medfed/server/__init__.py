"""MedFed server package."""
