"""Settings for the test suite: production settings with a fast password hasher and one data folder per worker.

Every `make_user()` and `signed_in_client()` hashes or checks a password; with Argon2 that alone cost minutes over the
suite. Production keeps Argon2 (tests/test_settings_env.py checks it). Under pytest-xdist each worker gets its own
CUSTODY_HOME, so keys, uploads, footage and the SQLite test database are never shared between workers; pytest-django
gives each worker its own test database name on PostgreSQL.
"""

from __future__ import annotations

import os
from pathlib import Path

_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker:
    _home = Path(os.environ.get("CUSTODY_HOME") or "var/test-home")
    os.environ["CUSTODY_HOME"] = str(_home / _worker)

from custody.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # tests only: see the docstring
# Every test Client builds the middleware chain anew, and WhiteNoise would walk all static files each time (about
# 45 ms a client, minutes over the suite); in tests it looks a file up when asked instead. Production settings are
# served by `custody serve` in tests/test_worker_and_serve.py.
WHITENOISE_AUTOREFRESH = True

# pytest-django exported DJANGO_SETTINGS_MODULE=tests.settings; Django has read it by now. The processes tests start
# (`custody serve`, `custody worker`, `custody check`...) must run what an operator runs: the production settings.
os.environ["DJANGO_SETTINGS_MODULE"] = "custody.settings"
