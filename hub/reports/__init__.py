"""Measurement points and the quarterly ambient reports (issue 5)."""
