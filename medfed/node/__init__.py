"""MedFed node package."""
