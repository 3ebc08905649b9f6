"""MedFed server db package."""
