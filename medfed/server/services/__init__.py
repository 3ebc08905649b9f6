"""MedFed server services package."""
