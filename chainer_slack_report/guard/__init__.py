"""Guarding a live run: what it shows when it stops reporting without ending."""
