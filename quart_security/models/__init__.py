"""Ready-made models with Flask-Security's schema.

``quart_security.models.sqla`` holds the SQLAlchemy 2 declarative mixins
(``FsModels``, ``FsUserMixin``, ``FsRoleMixin``, ``FsWebAuthnMixin``,
``AsaList``). It is not imported here so that a MongoDB-only application never
pays for SQLAlchemy's mapper machinery.
"""

from __future__ import annotations
