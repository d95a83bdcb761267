"""The app runs its background jobs in the one process, from the lifespan."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing

from starlette.testclient import TestClient

from tests.conftest import make_settings
from webapp.app import create_app


def test_the_lifespan_ticks_the_jobs_at_start_up(tmp_path, clock):
    settings = make_settings(tmp_path, background_jobs=True)
    app = create_app(settings, clock=clock)
    with TestClient(app):
        deadline = time.monotonic() + 5
        while True:
            with closing(sqlite3.connect(settings.database_path)) as conn:
                rows = conn.execute("SELECT name, last_ok FROM job_runs").fetchall()
            # Claimed (last_ok NULL) comes a moment before finished: wait for the finish.
            if ("housekeeping", 1) in rows or time.monotonic() > deadline:
                break
            time.sleep(0.02)
    assert ("housekeeping", 1) in rows
