"""Builders of the Hub dataset repository (one config per DGM)."""
