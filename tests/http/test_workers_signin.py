"""The sign-in throttle with `serve --workers 2`: the limits live in the database, so a
flood spread over both worker processes reaches Argon2 no more often than one worker would
allow, and the right password sent in the flood does not sign in."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections import Counter
from contextlib import closing
from urllib.parse import urlencode

from tests.helpers import EMAIL, PASSWORD
from tests.http.test_workers import (  # noqa: F401 (fixtures)
    WORKERS,
    Conn,
    _close_connections,
    database,
    one_per_worker,
    pytestmark,
    site,
)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_a_flood_over_both_workers_is_held_to_the_accounts_limit(
    site,  # noqa: F811 (the fixture imported above)
    database,  # noqa: F811
):
    first, second = one_per_worker(site)
    conns = [first, second] + [Conn(site) for _ in range(18)]
    assert len({c.pid for c in conns}) == WORKERS
    _, _, page = first.request("GET", "/staff/login")
    token = re.search(rb'name="token" value="([^"]+)"', page).group(1).decode()
    start = threading.Barrier(len(conns))
    answers: list[int] = []

    def send(conn: Conn, password: str) -> int:
        body = urlencode({"token": token, "email": EMAIL, "password": password})
        return conn.request("POST", "/staff/login", body, FORM)[0]

    def wrong(i: int) -> None:
        start.wait()
        answers.append(send(conns[i], f"wrong-guess-{i}"))

    threads = [threading.Thread(target=wrong, args=(i,)) for i in range(len(conns))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # Exactly the account's limit was checked, whichever worker took each attempt.
    assert Counter(answers) == {400: 5, 429: len(conns) - 5}
    with closing(sqlite3.connect(database)) as db:
        failed = db.execute("SELECT count(*) FROM audit_log WHERE action = 'login_failed'")
        assert failed.fetchone()[0] == 5
    # Now the right password is refused by both workers, unchecked.
    assert [send(first, PASSWORD), send(second, PASSWORD)] == [429, 429]
    with closing(sqlite3.connect(database)) as db:
        assert db.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0
