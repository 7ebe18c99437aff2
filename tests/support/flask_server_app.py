"""The WSGI app the real-server smoke tests run (gunicorn, waitress).

``QS_FLASK_DB_DIR`` names the directory of the SQLite database the test
seeded before starting the server; the app does not seed it again.
"""

from __future__ import annotations

import os

from .flask_app_factory import build_flask_app

app = build_flask_app("sqlite", os.environ["QS_FLASK_DB_DIR"], seed=False).app.flask_app
