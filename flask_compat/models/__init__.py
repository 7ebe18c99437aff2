"""Ready-made models for Flask-SQLAlchemy apps (``fsqla_v3``, as Flask-Security packages them)."""

from __future__ import annotations
