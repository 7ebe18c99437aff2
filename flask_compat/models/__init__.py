"""Ready-made models for Flask apps: ``fsqla_v3`` (Flask-SQLAlchemy), ``sqla`` (plain models)."""

from __future__ import annotations
