"""Shared test support: models, app factory, HTTP helpers."""
