"""`make bench`: the site under load, next to a bare ASGI app on the same server stack.

The bare app (tests/perf/bare_app.py, 200 "ok") and the site run on the site's own uvicorn
configuration: httptools and uvloop, the fastest stack the site could ship on. Servers run
on CPU 0 and wrk on CPU 1 (taskset), wrk with 2 threads and 32 connections; runs are
interleaved in rounds (the bare app first in each) and the table shows medians and the
ratio to the bare app's req/s in the same round.

1. The public pages at four instants of a Wednesday (12:00, 16:30, 23:00, 08:30 ET), each
   in a fresh site and bare app whose clocks start at that instant and keep ticking
   (Debian's libfaketime: LD_PRELOAD + FAKETIME); the worst instant per page is reported.
2. Staff pages at 1,000 stored requests; the consultation POST with group commit and
   without (GROUP_COMMIT=off); staff pages at 100,000; start to first 200, memory, what a
   first visit to the article transfers; stored rows against acknowledgements.
3. `serve --workers 2` against one worker on the home page, unpinned (wrk shares the CPUs).

Environment: BENCH_SECONDS (per run, default 5), BENCH_ROUNDS (default 3), BENCH_KEEP=1 keeps
the temporary folder (database, server logs), CHROMIUM_BIN (default Debian's Chromium).

Only the loopback interface is used. Every process started here is stopped here, by its id.
Exit code: 0 when the run completed (FAIL marks in the report are findings, not errors);
1 when stored rows do not match acknowledged submissions; 2 when the harness itself failed.
"""

from __future__ import annotations

import base64
import glob
import gzip
import http.client
import itertools
import os
import platform
import random
import re
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from starlette.datastructures import Secret

from webapp.security import FormTokens

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
HOST = "127.0.0.1"
THREADS = 2
CONNECTIONS = 32
ARTICLE = "/articles/does-ketamine-treat-depression"
# Settings the site reads; the bench clears them so the site runs with its defaults, then
# sets only a temporary database, a known key and the proxy setting of docs/deploy.md, so
# each POST comes from an address of its own (X-Forwarded-For) and the default per-address
# limit holds, as with many visitors behind the documented proxy.
APP_VARS = (
    "DATABASE_PATH",
    "SECRET_KEY",
    "HTTPS_ONLY",
    "ALLOWED_HOSTS",
    "FORWARDED_ALLOW_IPS",
    "BASE_URL",
    "DATA_DIR",
    "CONSULTATION_RATE_LIMIT",
    "CONSULTATION_FLOOD_LIMIT",
    "DEBUG",
)
PROXY = "127.0.0.1"  # FORWARDED_ALLOW_IPS, as in docs/deploy.md
# The issue's four instants (Wednesday 2026-12-02, America/New_York = UTC-5), as UTC.
INSTANTS = (
    ("12:00 (open)", "2026-12-02 17:00:00"),
    ("16:30 (closes in 30 min)", "2026-12-02 21:30:00"),
    ("23:00 (closed)", "2026-12-03 04:00:00"),
    ("08:30 (opens in 30 min)", "2026-12-02 13:30:00"),
)
# Prepended to wrk's command line (taskset: its own CPU); set in main().
WRK_PREFIX: list[str] = []
STAFF_EMAIL = "bench.staff@example.org"
SEARCH = "son"
# What Chromium sends, even over plain HTTP to 127.0.0.1: GET runs send it too, so the site
# does the work it does for a browser (compression included).
ACCEPT_ENCODING = "gzip, deflate, br, zstd"
BROWSER = (f"Accept-Encoding: {ACCEPT_ENCODING}",)
REFERENCE = re.compile(rb"AKI-[0-9A-Z]{5}")
REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
# Must match post.lua's form (used to resubmit requests that were in flight when wrk stopped).
POST_FORM = (
    "&full_name=Jordan+Bench-Visitor&email=jordan.visitor%40example.org"
    "&phone=%28518%29+555-0142&contact_method=email&best_time=afternoon"
    "&message=I+have+had+depression+for+years+and+two+antidepressants+have+not+helped."
    "+My+doctor+mentioned+ketamine.+Could+we+talk+about+whether+it+might+suit+me%3F"
    "&consent=yes"
)
POST_HEADERS = {
    "Content-Type": "application/x-www-form-urlencoded",
    "HX-Request": "true",
    "Sec-Fetch-Site": "same-origin",
}


POST_RUNS = itertools.count(1)


class HarnessError(Exception):
    """The benchmark could not run as designed (not a finding about the app)."""


def log(message: str) -> None:
    """Progress, on stderr so the report on stdout stays one piece."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def env_int(name: str, default: int) -> int:
    """A positive integer from the environment."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise HarnessError(f"{name} must be a positive whole number, not {raw!r}")
    return int(raw)


def free_port() -> int:
    """A port the kernel says is free on the loopback interface."""
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: str | bytes | None = None,
    timeout: float = 10.0,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One HTTP/1.1 request to 127.0.0.1:port; returns status, headers and raw body."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


# ----------------------------------------------------------------------------- servers


class Server:
    """A server process this harness starts, measures and stops (by its own id only)."""

    def __init__(
        self, name: str, argv: Sequence[str], env: dict[str, str], port: int, log_path: Path
    ) -> None:
        self.name, self.argv, self.env, self.port, self.log_path = name, argv, env, port, log_path
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self, ready_path: str = "/healthz") -> float:
        """Start it; poll every 5 ms; seconds from the start to its first 200."""
        self._log = self.log_path.open("wb")
        started = time.perf_counter()
        self.proc = subprocess.Popen(  # noqa: S603 (our own fixed command line)
            list(self.argv),
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the harness, which stops it in order
        )
        while True:
            if self.proc.poll() is not None:
                raise HarnessError(
                    f"{self.name} exited with code {self.proc.returncode} before answering;"
                    f" its output: {self.log_path}"
                )
            try:
                status, _, _ = request(self.port, "GET", ready_path, timeout=1.0)
                if status == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            if time.perf_counter() - started > 60:
                raise HarnessError(f"{self.name} did not answer 200 within 60 s")
            time.sleep(0.005)

    def wait_for_processes(self, count: int) -> None:
        """Wait until `count` worker processes have started (uvicorn logs each): the first
        200 comes from whichever started first, and a run begun before the others accept
        would hand them no connections."""
        deadline = time.monotonic() + 60
        while self.log_path.read_bytes().count(b"Application startup complete") < count:
            if time.monotonic() > deadline:
                raise HarnessError(f"{self.name}: {count} processes did not start within 60 s")
            time.sleep(0.01)

    def memory(self) -> tuple[float, float]:
        """Resident memory now and at its peak (VmRSS, VmHWM), in MB."""
        assert self.proc is not None
        values = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
        return values["VmRSS"], values["VmHWM"]

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts down gracefully), SIGKILL after 10 s; only our own pid."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None


# ----------------------------------------------------------------------------- wrk


@dataclass
class Run:
    """One wrk run's figures."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: dict[str, int]
    extra: dict[str, str] = field(default_factory=dict)


def wrk(
    port: int,
    path: str,
    seconds: int,
    script: Path,
    headers: Sequence[str] = (),
    env: dict[str, str] | None = None,
    connections: int = CONNECTIONS,
) -> Run:
    """One wrk run; figures from the script's BENCH line (exact percentiles)."""
    argv = [
        *WRK_PREFIX,
        "wrk",
        f"-t{min(THREADS, connections)}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
    ]
    for header in headers:
        argv += ["-H", header]
    argv.append(f"http://{HOST}:{port}{path}")
    try:
        done = subprocess.run(  # noqa: S603
            argv,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            env={**os.environ, **(env or {})},
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise HarnessError(f"wrk did not finish: {' '.join(argv)}") from None
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise HarnessError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
    values = dict(item.split("=", 1) for item in line.split()[1:])
    requests_done = int(values["requests"])
    duration = int(values["duration_us"]) / 1e6
    errors = {k: int(values[k]) for k in ("connect", "read", "write", "status", "timeout")}
    extra = {k: v for k, v in values.items() if k in ("sent", "acked", "wrapped", "other")}
    return Run(
        rps=requests_done / duration if duration else 0.0,
        p50_ms=int(values["p50_us"]) / 1000,
        p99_ms=int(values["p99_us"]) / 1000,
        requests=requests_done,
        errors=errors,
        extra=extra,
    )


# ----------------------------------------------------------------------------- seeding


def _names(text: str) -> tuple[str, ...]:
    """Space-separated names; "_" stands for a space inside one (Van_Buren)."""
    return tuple(name.replace("_", " ") for name in text.split())


FIRST = _names(
    "Olivia Liam Emma Noah Ava James Sophia William Isabella Benjamin Mia Lucas Charlotte Henry "
    "Amelia Alexander Harper Daniel Evelyn Michael Abigail Matthew Emily David Elizabeth Joseph "
    "Sofia Samuel Madison Owen Ella Wyatt Scarlett John Grace Jack Chloe Luke Victoria Riley "
    "Dylan Aria Lily Levi Isaac Zoey Gabriel Penelope Julian Mateo Addison Anthony Layla Natalie "
    "Lincoln Camila Joshua Hannah Christopher Brooklyn Andrew Nora Caleb Leah Ryan Audrey Nathan "
    "Claire Thomas Eleanor Leo Isaiah Ellie Charles Samantha Hudson Violet Hunter Connor Allison "
    "Ezra Anna Aaron Hazel Adrian Jonathan Lucy Caroline Sarah Robert Maya Maria José Siobhán "
    "Zoë Priya Wei Fatima Aisha Raj Mohammed Yusuf Kenji Hana Dmitri Olga Seamus Aoife Chidi "
    "Ngozi Lucía Mary Patricia Linda Barbara Susan Karen Nancy Donna Carol Richard Kevin Brian "
    "Gary Dennis Frank Raymond Pat Terry Jean-Luc Anne-Marie"
)
LAST = _names(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips "
    "Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook "
    "Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward "
    "Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez "
    "Castillo Sanders Patel Myers Long Ross Foster Jimenez O'Brien DeLuca Kowalski Schneider "
    "Murray Sullivan Fitzgerald Schuyler Okafor Haddad Nakamura Ivanova Müller Novák Van_Buren "
    "Ten_Eyck Van_Rensselaer Ó_Súilleabháin"
)
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com", "post.example.org")
AREA_CODES = ("518", "518", "518", "518", "838", "413", "802", "845", "315", "607")
MESSAGES = (
    "",
    "",
    "I have tried three antidepressants over the past six years and none have really helped. "
    "My psychiatrist suggested I look into ketamine. What does the first visit involve?",
    "Asking for my husband, who has struggled with depression since his father died. Is "
    "insurance accepted?",
    "Do I need a referral from my doctor, or can I book a consultation directly?",
    "I live in Saratoga Springs and don't drive. Is there a bus from downtown Albany?",
    "I'm on lamotrigine and sertraline. Would that be a problem for infusions?",
    "Please call after 3pm, I work mornings.",
    "I read your article. I'm 67 with high blood pressure that is well controlled. Can I still "
    "be considered?",
    "How many sessions does a course usually take, and what does it cost without insurance?",
    "My therapist recommended contacting you. I've had treatment-resistant depression for "
    "about ten years.",
    "Is someone able to drive me home after, or do I need to arrange that myself?",
)


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _status_for(age_days: float, rng: random.Random) -> str:
    if age_days < 2:
        weights = (80, 20, 0, 0, 0)
    elif age_days < 30:
        weights = (12, 40, 28, 10, 10)
    else:
        weights = (1, 4, 8, 22, 65)
    return rng.choices(("new", "contacted", "scheduled", "not_a_fit", "closed"), weights)[0]


# A busy clinic's history: 100,000 requests over three years, about 91 a day.
SEED_MAX = 100_000
PER_DAY = SEED_MAX / (3 * 365)


def seed(db_path: Path, total: int, rng: random.Random) -> int:
    """Insert varied, valid requests until the staff list holds `total` (suspected spam, which
    it leaves out, aside: the POST runs come from one address so fast that they are flagged as
    a flood); returns how many.

    The site lists newest first by id (arrival order), so ids must grow with created_at as
    they would in real life. Seeded rows are history older than everything already stored:
    they get explicit ids below the lowest present (the first batch ends at id SEED_MAX, so
    requests the site stores later get higher ids), and times before the oldest present.
    """
    conn = sqlite3.connect(db_path, timeout=60)
    try:
        have, low_id, oldest = conn.execute(
            "SELECT count(*) FILTER (WHERE suspected_spam IS NULL), min(id), min(created_at)"
            " FROM consultations"
        ).fetchone()
        missing = total - have
        if missing <= 0:
            return 0
        first_id = (low_id if low_id is not None else SEED_MAX + 1) - missing
        if first_id < 1:
            raise HarnessError(f"cannot seed {missing} rows below id {low_id}")
        used = {row[0] for row in conn.execute("SELECT reference FROM consultations")}
        now = datetime.now(UTC)
        newest = datetime.fromisoformat(oldest.replace("Z", "+00:00")) if oldest else now
        span = timedelta(days=missing / PER_DAY)
        times = sorted(newest - span * rng.random() for _ in range(missing))
        rows = []
        for row_id, created in enumerate(times, start=first_id):
            while True:
                reference = "AKI-" + "".join(rng.choice(REFERENCE_ALPHABET) for _ in range(5))
                if reference not in used:
                    used.add(reference)
                    break
            token_id = base64.urlsafe_b64encode(rng.randbytes(16)).decode().rstrip("=")
            first, last = rng.choice(FIRST), rng.choice(LAST)
            name = f"{first} {last}"
            f, la = _ascii(first), _ascii(last)
            local = rng.choice(
                (
                    f"{f}.{la}",
                    f"{f[0]}{la}",
                    f"{f}{la}{rng.randint(1, 99)}",
                    f"{f}_{la}",
                    f"{la}.{f}{rng.randint(50, 99)}",
                    f"{f}{rng.randint(1950, 2005)}",
                )
            )
            email = f"{local}@{rng.choice(DOMAINS)}"
            phone = (
                f"+1{rng.choice(AREA_CODES)}5550{rng.randint(100, 199)}"
                if rng.random() < 0.55
                else ""
            )
            if not phone:
                method = "email"
            else:
                if rng.random() < 0.35:
                    email = ""
                method = rng.choice(("call", "text") if not email else ("call", "text", "email"))
            age_days = (now - created) / timedelta(days=1)
            status = _status_for(age_days, rng)
            closed = None
            updated = created + timedelta(hours=rng.uniform(0, 48)) if status != "new" else created
            if status in ("not_a_fit", "closed"):
                closed = min(now, created + timedelta(days=rng.uniform(1, 40)))
                updated = closed
            updated = min(updated, now)
            rows.append(
                (
                    row_id,
                    reference,
                    token_id,
                    name,
                    email,
                    phone,
                    method,
                    rng.choice(("morning", "afternoon", "any")),
                    rng.choice(MESSAGES),
                    status,
                    _iso(created),
                    _iso(created),
                    _iso(updated),
                    _iso(closed) if closed else None,
                )
            )
        with conn:
            conn.executemany(
                "INSERT INTO consultations (id, reference, token_id, full_name, email, phone,"
                " contact_method, best_time, message, status, consent_at, created_at,"
                " updated_at, closed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return missing
    finally:
        conn.close()


# ----------------------------------------------------------------------------- the POST run


@dataclass
class PostCheck:
    """Stored rows against acknowledged submissions, over all POST runs."""

    acknowledged: int = 0  # 200 with a reference, seen by wrk
    in_flight_confirmed: int = 0  # stored while wrk stopped; resubmitted, same reference back
    stored: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.stored == self.acknowledged + self.in_flight_confirmed


def mint_tokens(keys: tuple[Secret, ...], count: int, path: Path) -> dict[str, str]:
    """`count` fresh consultation tokens (dated 5 s ago) into path; returns nonce -> token."""
    tokens = FormTokens(keys, "consultation-form", timedelta(hours=24))
    issued = datetime.now(UTC) - timedelta(seconds=5)
    minted = [tokens.issue(issued) for _ in range(count)]
    path.write_text("\n".join(minted) + "\n", encoding="ascii")
    now = datetime.now(UTC)
    return {tokens.read(token, now).nonce: token for token in minted}


def post_run(
    port: int, db_path: Path, keys: tuple[Secret, ...], seconds: int, work: Path, check: PostCheck
) -> Run:
    """wrk POSTs valid requests; then every acknowledged reference must be a stored row."""
    count = env_int("BENCH_POST_TOKENS", max(60_000, 4_000 * seconds))
    tokens_file, acks_file = work / "tokens.txt", work / "acks.txt"
    by_nonce = mint_tokens(keys, count, tokens_file)
    run_number = next(POST_RUNS)  # post.lua's addresses are 10.<run>.x.y
    conn = sqlite3.connect(db_path, timeout=60)
    try:
        before = conn.execute("SELECT coalesce(max(id), 0) FROM consultations").fetchone()[0]
        run = wrk(
            port,
            "/consultation",
            seconds,
            HERE / "post.lua",
            env={
                "BENCH_TOKENS": str(tokens_file),
                "BENCH_ACKS": str(acks_file),
                "BENCH_THREADS": str(THREADS),
                "BENCH_RUN": str(run_number),
            },
        )
        # Requests in flight when wrk stopped still finish on the server: wait for quiet.
        last, stable_since = -1, time.monotonic()
        while time.monotonic() - stable_since < 0.3:
            now_count = conn.execute("SELECT count(*) FROM consultations").fetchone()[0]
            if now_count != last:
                last, stable_since = now_count, time.monotonic()
            time.sleep(0.05)
        stored = dict(
            conn.execute("SELECT reference, token_id FROM consultations WHERE id > ?", (before,))
        )
    finally:
        conn.close()
    acked = acks_file.read_text(encoding="ascii").split()
    if int(run.extra.get("wrapped", "0")):
        check.problems.append(
            f"tokens ran out ({count} per run) and were reused; set BENCH_POST_TOKENS higher"
        )
    if not acked:
        check.problems.append("no request was acknowledged: the POST run measured refusals")
    if run.extra.get("other", "-") != "-":
        check.problems.append(f"answers that were not acknowledgements: {run.extra['other']}")
    if len(set(acked)) != len(acked):
        check.problems.append(f"{len(acked) - len(set(acked))} reference(s) acknowledged twice")
    lost = set(acked) - set(stored)
    if lost:
        check.problems.append(f"{len(lost)} acknowledged request(s) not stored: {sorted(lost)[:5]}")
    unanswered = set(stored) - set(acked)
    if len(unanswered) > CONNECTIONS:
        check.problems.append(
            f"{len(unanswered)} stored request(s) were never acknowledged (more than the"
            f" {CONNECTIONS} that can be in flight when wrk stops)"
        )
    confirmed = 0
    for reference in sorted(unanswered)[: CONNECTIONS + 1]:
        token = by_nonce.get(stored[reference])
        if token is None:
            check.problems.append(f"{reference} was stored with a token this run did not mint")
            continue
        # A client whose answer was lost sends the same form again: it must get the same
        # reference back (a replay stores nothing).
        # From an address of its own (10.255.x.y: no run uses it), like the run's requests.
        again = {**POST_HEADERS, "X-Forwarded-For": f"10.255.{confirmed // 256}.{confirmed % 256}"}
        status, _, body = request(
            port, "POST", "/consultation", again, f"token={token}" + POST_FORM
        )
        found = REFERENCE.search(body)
        if status == 200 and found and found.group().decode() == reference:
            confirmed += 1
        else:
            check.problems.append(f"resubmitting {reference}'s form gave {status}, not it")
    check.acknowledged += len(acked)
    check.in_flight_confirmed += confirmed
    check.stored += len(stored)
    run.extra["in_flight"] = str(len(unanswered))
    return run


# ----------------------------------------------------------------------------- first visit


@dataclass
class Visit:
    """What loading the article in an empty browser transfers."""

    method: str
    resources: list[dict]
    notes: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.resources)

    @property
    def transferred(self) -> int:
        return sum(r["transferred"] for r in self.resources)

    @property
    def third_party(self) -> list[str]:
        return [r["url"] for r in self.resources if urlsplit(r["url"]).hostname != HOST]

    @property
    def fonts(self) -> list[str]:
        return [
            r["url"]
            for r in self.resources
            if r.get("type") == "Font"
            or r.get("mime", "").startswith("font/")
            or re.search(r"\.(woff2?|ttf|otf|eot)(\?|$)", r["url"])
        ]


def chromium_path() -> str | None:
    configured = os.environ.get("CHROMIUM_BIN", "").strip()
    for candidate in (configured, *CHROMIUM_CANDIDATES):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def first_visit_browser(port: int) -> Visit:
    """Chromium (empty profile) loads the article; bytes as its network stack counts them."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise HarnessError("no Chromium (set CHROMIUM_BIN)")
    seen: dict[str, dict] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--disable-gpu", "--disable-quic"]
        )
        try:
            context = browser.new_context()
            page = context.new_page()
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")

            def sent(event: dict) -> None:
                url = event["request"]["url"]
                if not url.startswith("data:"):
                    seen.setdefault(
                        event["requestId"],
                        {"url": url, "transferred": 0, "decoded": 0, "type": event.get("type")},
                    )

            def received(event: dict) -> None:
                if event["requestId"] in seen:
                    response = event["response"]
                    headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
                    seen[event["requestId"]].update(
                        status=response.get("status"),
                        mime=response.get("mimeType", ""),
                        encoding=headers.get("content-encoding", ""),
                        type=event.get("type"),
                    )

            def data(event: dict) -> None:
                if event["requestId"] in seen:
                    seen[event["requestId"]]["decoded"] += event.get("dataLength", 0)

            def finished(event: dict) -> None:
                if event["requestId"] in seen:
                    seen[event["requestId"]]["transferred"] = int(event["encodedDataLength"])

            cdp.on("Network.requestWillBeSent", sent)
            cdp.on("Network.responseReceived", received)
            cdp.on("Network.dataReceived", data)
            cdp.on("Network.loadingFinished", finished)
            page.goto(f"http://{HOST}:{port}{ARTICLE}", wait_until="load", timeout=30_000)
            page.wait_for_load_state("networkidle", timeout=30_000)
            page.wait_for_timeout(1000)
            context.close()
        finally:
            browser.close()
    return Visit("Chromium, empty cache", list(seen.values()))


class Subresources(HTMLParser):
    """What a browser fetches for a page at once: stylesheets, icons, preloads, scripts,
    images (data: URLs ride inside the page and cost no request). Also used by
    tests/http/test_first_visit.py."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        rel = set((found.get("rel") or "").lower().split())
        url = None
        if tag == "link" and rel & {"stylesheet", "icon", "preload", "modulepreload"}:
            url = found.get("href")
        elif tag in ("script", "img", "source", "iframe"):
            url = found.get("src")
        if url and not url.startswith("data:"):
            self.urls.append(url)


def first_visit_http(port: int) -> Visit:
    """Without a browser: the article and each subresource it references, fetched once."""
    headers = {"Accept-Encoding": ACCEPT_ENCODING}
    status, head, body = request(port, "GET", ARTICLE, headers)
    if head.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    parser = Subresources()
    parser.feed(body.decode("utf-8", "replace"))
    resources = [_fetched(ARTICLE, status, head, body)]  # (decoded size counted as sent)
    for url in parser.urls:
        parts = urlsplit(url)
        if parts.netloc and parts.hostname != HOST:
            resources.append({"url": url, "transferred": 0, "decoded": 0, "status": None})
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        status, head, data = request(port, "GET", path, headers)
        resources.append(_fetched(path, status, head, data))
    return Visit("HTTP client, referenced resources", resources, ["no browser: bytes estimated"])


def _header_bytes(status: int, head: http.client.HTTPMessage) -> int:
    """The size of a response's status line and headers on the wire (near enough)."""
    return len(f"HTTP/1.1 {status} OK\r\n") + sum(len(f"{k}: {v}\r\n") for k, v in head.items()) + 2


def _fetched(path: str, status: int, head: http.client.HTTPMessage, body: bytes) -> dict:
    return {
        "url": f"http://{HOST}{path}" if path.startswith("/") else path,
        "transferred": _header_bytes(status, head) + len(body),
        "decoded": len(body),
        "status": status,
        "mime": head.get("content-type", ""),
        "encoding": head.get("content-encoding", ""),
    }


def compression_offered(port: int, visit: Visit) -> tuple[str, int]:
    """The Content-Encoding the site sends for each same-origin resource of the visit (asked
    with Chromium's Accept-Encoding), and what the visit would weigh with every response
    gzipped (-6) where that is smaller: an estimate of what compression could still save."""
    encodings, best = set(), 0
    for resource in visit.resources:
        parts = urlsplit(resource["url"])
        if parts.hostname != HOST:
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        status, head, body = request(port, "GET", path, {"Accept-Encoding": ACCEPT_ENCODING})
        encodings.add(head.get("content-encoding") or "identity")
        as_sent = _header_bytes(status, head) + len(body)
        status, head, plain = request(port, "GET", path)
        gzipped = _header_bytes(status, head) + len("content-encoding: gzip\r\n")
        best += min(as_sent, gzipped + len(gzip.compress(plain, 6)))
    return ", ".join(sorted(encodings)), best


# ----------------------------------------------------------------------------- the report


@dataclass
class Endpoint:
    key: str
    label: str
    path: str
    headers: tuple[str, ...] = BROWSER
    expect: bytes = b""
    goal: Goal | None = None
    connections: int = CONNECTIONS  # 1: the latency one person sees on an idle server


@dataclass
class Row:
    label: str
    runs: list[Run] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    goal: Goal | None = None
    post: bool = False  # the POST row: its goal also needs stored rows = acknowledged
    bare: bool = False
    note: str = ""  # e.g. the instant this row is the worst of

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r in self.runs)

    @property
    def p50(self) -> float:
        return statistics.median(r.p50_ms for r in self.runs)

    @property
    def p99(self) -> float:
        return statistics.median(r.p99_ms for r in self.runs)

    @property
    def ratio(self) -> float | None:
        return statistics.median(self.ratios) if self.ratios else None

    @property
    def errors(self) -> int:
        return sum(sum(r.errors.values()) for r in self.runs)


@dataclass(frozen=True)
class Goal:
    """A goal and its moonshot on one figure of a row."""

    text: str
    figure: Callable[[Row], float]
    goal: float
    moonshot: float
    below: bool = False  # True: the figure must stay under the thresholds (latency)

    def check(self, row: Row) -> tuple[bool, bool]:
        value = self.figure(row)
        if self.below:
            return value < self.goal, value < self.moonshot
        return value >= self.goal, value >= self.moonshot


def ratio_of(row: Row) -> float:
    return row.ratio or 0.0


PAGE_GOAL = Goal("× bare ≥ 0.30 (moonshot 0.40)", ratio_of, 0.30, 0.40)
STATUS_GOAL = Goal("× bare ≥ 0.45 (moonshot 0.60)", ratio_of, 0.45, 0.60)
POST_GOAL = Goal("× bare ≥ 0.04 (moonshot 0.08)", ratio_of, 0.04, 0.08)
STAFF_GOAL = Goal("p99 < 15 ms (moonshot 10)", lambda row: row.p99, 15, 10, below=True)
WORKERS_GOAL = (1.3, 1.5)
VISIT_GOAL = ((25_000, 5), (20_000, 4))


def mark(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def verdict(goal: bool, moonshot: bool) -> str:
    return mark(goal) + (", moonshot too" if moonshot else "")


def print_table(rows: list[Row], post_check: PostCheck) -> None:
    header = ("endpoint", "req/s", "p50 ms", "p99 ms", "× bare", "goal", "")
    lines = []
    for row in rows:
        goal_text, said = "", ""
        if row.goal is not None:
            goal_text = row.goal.text
            passed, moon = row.goal.check(row)
            if row.post:
                goal_text += ", rows = acks"
                passed, moon = passed and post_check.ok, moon and post_check.ok
            said = verdict(passed, moon)
        ratio = "1.000" if row.bare else "—" if row.ratio is None else f"{row.ratio:.3f}"
        label = row.label + (f" [{row.errors} errors]" if row.errors else "")
        label += f" ({row.note})" if row.note else ""
        lines.append(
            (label, f"{row.rps:,.0f}", f"{row.p50:.1f}", f"{row.p99:.1f}", ratio, goal_text, said)
        )
    print_grid(header, lines, right={1, 2, 3, 4})


def print_grid(header: Sequence[str], lines: Sequence[Sequence[str]], right: set[int]) -> None:
    widths = [max(len(str(line[i])) for line in [header, *lines]) for i in range(len(header))]

    def fmt(cells: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(
                str(c).rjust(w) if i in right else str(c).ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + " |"
        )

    print(fmt(header))
    print(
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if i in right else "-" * (w + 2) for i, w in enumerate(widths)
        )
        + "|"
    )
    for line in lines:
        print(fmt(line))


# ----------------------------------------------------------------------------- main


def code_version() -> str:
    """The commit measured, and whether the app's files differ from it (others may be editing)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
            check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "webapp", "templates", "static", "data"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.split("\n")  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    changed = [line[3:] for line in dirty if line.strip()]
    return head + (f" + uncommitted changes to {', '.join(changed)}" if changed else "")


def staff_login(port: int, password: str) -> str:
    """Sign in like a browser would; returns the `aki_staff` cookie's value."""
    status, _, body = request(port, "GET", "/staff/login")
    found = re.search(rb'name="token" value="([^"]+)"', body)
    if status != 200 or not found:
        raise HarnessError(f"GET /staff/login gave {status} without a sign-in token")
    form = urlencode(
        {
            "token": found.group(1).decode(),
            "next": "/staff",
            "email": STAFF_EMAIL,
            "password": password,
        }
    )
    status, head, _ = request(
        port, "POST", "/staff/login", {"Content-Type": "application/x-www-form-urlencoded"}, form
    )
    for cookie in head.get_all("set-cookie") or []:
        name, _, rest = cookie.partition("=")
        if name.strip() == "aki_staff":
            return rest.split(";", 1)[0]
    raise HarnessError(f"staff sign-in gave {status} without an aki_staff cookie")


def fetch(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET path; the status and the body (gunzipped)."""
    status, head, body = request(port, "GET", path, headers, timeout=30)
    if head.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    return status, body


def verify(port: int, endpoint: Endpoint) -> None:
    """One request first and after: the run measures a 200 with the expected page."""
    status, body = fetch(port, endpoint.path, dict(h.split(": ", 1) for h in endpoint.headers))
    if status != 200 or endpoint.expect not in body:
        raise HarnessError(
            f"GET {endpoint.path} gave {status}"
            + (f" without {endpoint.expect!r}" if status == 200 else "")
        )


def banner_at(instant: datetime) -> str:
    """The banner's headline the site must show at a UTC instant (the clinic's own file)."""
    from webapp.clinic import load_clinic
    from webapp.hours import status_at

    schedule = load_clinic(ROOT / "data" / "clinic.toml").schedule
    return status_at(instant, schedule).headline


def run_rounds(
    name: str,
    bare: Server,
    site_port: int,
    endpoints: list[Endpoint],
    rounds: int,
    seconds: int,
    extra: Callable[[Run], list[tuple[Row, Run, str]]] | None = None,
) -> tuple[Row, dict[str, Row]]:
    """Interleaved rounds: the bare app, then each endpoint; medians kept in rows."""
    bare_row = Row(f"bare ASGI app ({name})", bare=True)
    rows = {e.key: Row(e.label, goal=e.goal) for e in endpoints}
    for number in range(1, rounds + 1):
        base = wrk(bare.port, "/", seconds, HERE / "stats.lua", BROWSER)
        bare_row.runs.append(base)
        said = [f"bare {base.rps:,.0f}"]
        for endpoint in endpoints:
            verify(site_port, endpoint)
            run = wrk(
                site_port, endpoint.path, seconds, HERE / "stats.lua", endpoint.headers,
                connections=endpoint.connections,
            )  # fmt: skip
            verify(site_port, endpoint)
            rows[endpoint.key].runs.append(run)
            if endpoint.connections == CONNECTIONS:
                rows[endpoint.key].ratios.append(run.rps / base.rps)
            said.append(f"{endpoint.key} {run.rps:,.0f}")
        for row, run, text in extra(base) if extra else []:
            row.runs.append(run)
            row.ratios.append(run.rps / base.rps)
            said.append(text)
        log(f"{name}, round {number}/{rounds}: " + ", ".join(said) + " req/s")
    return bare_row, rows


@dataclass
class Stack:
    """How the servers and wrk run: the preload that fixes the clock, and CPU pinning."""

    faketime: str
    server_cpu: list[str]
    wrk_cpu: list[str]

    def clock_at(self, instant: str) -> dict[str, str]:
        """The environment that starts a process's clock at `instant` (UTC), still ticking."""
        return {"LD_PRELOAD": self.faketime, "FAKETIME": f"@{instant}", "TZ": "UTC"}


def find_stack() -> Stack:
    """Debian's libfaketime (the `faketime` package; make bench installs it as root) and
    taskset (util-linux), when the machine has two CPUs or more."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    if not found:
        raise HarnessError(
            "libfaketime is missing: apt-get install -y faketime (make bench does it as root)"
        )
    pin = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    return Stack(
        found[0],
        ["taskset", "-c", "0"] if pin else [],
        ["taskset", "-c", "1"] if pin else [],
    )


def main() -> int:  # noqa: C901 (one linear script)
    global WRK_PREFIX
    sys.stdout.reconfigure(line_buffering=True)  # the report and progress lines in order
    seconds = env_int("BENCH_SECONDS", 5)
    rounds = env_int("BENCH_ROUNDS", 3)
    if shutil.which("wrk") is None:
        raise HarnessError("wrk is missing: apt-get install -y wrk (make bench does it as root)")
    stack = find_stack()
    WRK_PREFIX = stack.wrk_cpu
    wall = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="aki-bench-"))
    keep = os.environ.get("BENCH_KEEP", "") == "1"
    db_path = work / "bench.db"
    secret = secrets.token_urlsafe(48)
    keys = (Secret(secret),)
    env = {k: v for k, v in os.environ.items() if k not in APP_VARS}
    site_env = {
        **env,
        "DATABASE_PATH": str(db_path),
        "SECRET_KEY": secret,
        "FORWARDED_ALLOW_IPS": PROXY,
        # No daily backup of a benchmark's database into the clinic's data folder.
        "BACKUP_TIME": "off",
    }
    python = sys.executable
    serve = [*stack.server_cpu, python, "-m", "webapp", "serve", "--port"]
    bare_argv = [*stack.server_cpu, python, str(HERE / "bare_app.py"), "--port"]
    servers: list[Server] = []

    def server(name: str, argv: list[str], server_env: dict[str, str], log_name: str) -> Server:
        port = free_port()
        made = Server(name, [*argv, str(port)], server_env, port, work / log_name)
        servers.append(made)
        return made

    rng = random.Random(20261129)  # noqa: S311 (test data, reproducible)
    rows: list[Row] = []
    post_check = PostCheck()
    memory_after: list[tuple[str, float]] = []
    load_before = os.getloadavg()[0]
    failed = True
    page_rows: dict[str, dict[str, Row]] = {}  # instant -> endpoint key -> row
    try:
        wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
        code = code_version()
        log(f"temporary folder {work}; {rounds} round(s) of {seconds} s per run; code {code}")
        made = subprocess.run([python, "-m", "webapp", "migrate"], env=site_env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        if made.returncode != 0:
            raise HarnessError(f"migrate failed: {made.stderr.strip() or made.stdout}")

        pages = [
            Endpoint("home", "GET / (home)", "/", expect=b"<main", goal=PAGE_GOAL),
            Endpoint("article", "GET the article", ARTICLE, expect=b"<article", goal=PAGE_GOAL),
            Endpoint("clinic", "GET /clinic", "/clinic", expect=b"<main", goal=PAGE_GOAL),
            Endpoint(
                "status",
                "GET /open-status",
                "/open-status",
                expect=b"open-status",
                goal=STATUS_GOAL,
            ),  # fmt: skip
        ]
        # ---- 1. the public pages at four instants, each in a fresh server (and a fresh
        # bare app) whose clock starts at that instant and keeps ticking.
        for label, instant in INSTANTS:
            clock = stack.clock_at(instant)
            site = server(
                f"the site at {label}", serve, {**site_env, **clock}, f"site-{instant[11:13]}.log"
            )
            bare = server(
                f"the bare app at {label}",
                bare_argv,
                {**env, **clock},
                f"bare-{instant[11:13]}.log",
            )
            site.start()
            bare.start()
            expected = banner_at(datetime.fromisoformat(instant).replace(tzinfo=UTC))
            _, home = fetch(site.port, "/")
            if f">{expected}<".encode() not in home:
                raise HarnessError(
                    f"at {label} the banner should read {expected!r}: is the clock fixed?"
                )
            for endpoint in pages:
                verify(site.port, endpoint)
            wrk(bare.port, "/", 1, HERE / "stats.lua", BROWSER)  # warm-up, not recorded
            wrk(site.port, "/", 1, HERE / "stats.lua", BROWSER)
            _, page_rows[label] = run_rounds(label, bare, site.port, pages, rounds, seconds)
            site.stop()
            bare.stop()
        for endpoint in pages:
            by_instant = {label: page_rows[label][endpoint.key] for label, _ in INSTANTS}
            worst_label = min(by_instant, key=lambda lb: by_instant[lb].ratio or 0.0)
            worst = by_instant[worst_label]
            worst.note = f"worst: {worst_label}"
            rows.append(worst)

        # ---- 2. staff pages, the POST (group commit on, then off), 100,000 rows: the
        # machine's own clock (the tokens the harness mints are dated by it).
        site = server("the site", serve, site_env, "site.log")
        bare = server("the bare app", bare_argv, env, "bare.log")
        site_start = site.start()
        bare.start()
        log(f"started the site in {site_start:.3f} s")
        password = "bench-" + secrets.token_urlsafe(18)
        made = subprocess.run(  # noqa: S603
            [python, "-m", "webapp", "create-staff", STAFF_EMAIL, "--password-stdin"],
            input=password + "\n",
            capture_output=True,
            text=True,
            env=site_env,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        if made.returncode != 0:
            raise HarnessError(f"create-staff failed: {made.stderr.strip() or made.stdout}")
        cookie = f"Cookie: aki_staff={staff_login(site.port, password)}"
        seed(db_path, 1_000, rng)

        def staff_endpoints(count: int) -> list[Endpoint]:
            n = f"{count:,}"
            return [
                Endpoint(
                    f"staff{count}",
                    f"GET /staff (dashboard, Needs action), {n} stored",
                    "/staff",
                    (*BROWSER, cookie),
                    b"requests \xc2\xb7 Needs action",
                    STAFF_GOAL if count >= 100_000 else None,
                ),
                Endpoint(
                    f"search{count}",
                    f"GET /staff?q={SEARCH} (search), {n} stored",
                    f"/staff?q={SEARCH}",
                    (*BROWSER, cookie),
                    b"results for",
                    STAFF_GOAL if count >= 100_000 else None,
                ),
            ]

        small = staff_endpoints(1_000)
        for endpoint in small:
            verify(site.port, endpoint)
        wrk(site.port, "/staff", 1, HERE / "stats.lua", small[0].headers)
        bare_row, staff_rows = run_rounds("1,000 stored", bare, site.port, small, rounds, seconds)
        rows += [bare_row, *staff_rows.values()]
        memory_after.append(("1,000 stored", site.memory()[0]))

        # The POST with group commit (the site's default) and with a transaction per request.
        one_each = server("the site, GROUP_COMMIT=off", serve, {**site_env, "GROUP_COMMIT": "off"},
                          "site-one-commit-each.log")  # fmt: skip
        one_each.start()
        grouped_row = Row("POST /consultation (stored, htmx), group commit", goal=POST_GOAL,
                          post=True)  # fmt: skip
        single_row = Row("POST /consultation, one commit per request (GROUP_COMMIT=off)")

        def posts(_: Run) -> list[tuple[Row, Run, str]]:
            done = []
            for row, target in ((grouped_row, site), (single_row, one_each)):
                run = post_run(target.port, db_path, keys, seconds, work, post_check)
                done.append((row, run, f"{row.label.split(',')[-1].strip()} {run.rps:,.0f}"
                                       f" ({run.extra['acked']} acknowledged)"))  # fmt: skip
            return done

        bare_row, _ = run_rounds("POST", bare, site.port, [], rounds, seconds, extra=posts)
        one_each.stop()
        rows += [bare_row, grouped_row, single_row]
        memory_after.append(("POST", site.memory()[0]))

        added = seed(db_path, 100_000, rng)
        log(f"seeded {added:,} more requests: 100,000 stored")
        big = staff_endpoints(100_000)
        # The same two pages as one member of staff sees them: one connection, no queue.
        big += [
            Endpoint(e.key + "-1", e.label + ", 1 connection", e.path, e.headers, e.expect, None, 1)
            for e in big
        ]
        for endpoint in big:
            verify(site.port, endpoint)
        bare_row, big_rows = run_rounds("100,000 stored", bare, site.port, big, rounds, seconds)
        rows += [bare_row, *big_rows.values()]
        memory_after.append(("100,000 stored", site.memory()[0]))

        site_rss, site_peak = site.memory()
        bare_rss, _ = bare.memory()
        try:
            visit = first_visit_browser(site.port)
        except Exception as exc:  # no browser here: fall back to fetching what the page names
            log(f"browser measurement unavailable ({exc}); using the HTTP fallback")
            visit = first_visit_http(site.port)
        encodings, gzipped = compression_offered(site.port, visit)

        # Start again on the database the load left (100,000 rows, migrations already done).
        site.stop()
        bare.stop()
        site = server("the site", serve, site_env, "site-restart.log")
        restart = site.start()
        log(f"restarted on the 100,000-row database in {restart:.3f} s")
        site.stop()

        # ---- 3. one worker against two, on the home page, wrk sharing both CPUs with them.
        WRK_PREFIX = []
        unpinned = [python, "-m", "webapp", "serve", "--port"]
        one = server("the site, 1 worker", unpinned, site_env, "site-1-worker.log")
        two = server("the site, 2 workers", [*unpinned[:-1], "--workers", "2", "--port"],
                     site_env, "site-2-workers.log")  # fmt: skip
        one.start()
        two.start()
        two.wait_for_processes(2)
        home = pages[0]
        workers_runs: dict[int, list[Run]] = {1: [], 2: []}
        for number in range(1, rounds + 1):
            for count, target in ((1, one), (2, two)):
                verify(target.port, home)
                workers_runs[count].append(
                    wrk(target.port, "/", seconds, HERE / "stats.lua", BROWSER)
                )
            log(f"workers, round {number}/{rounds}: 1 worker {workers_runs[1][-1].rps:,.0f},"
                f" 2 workers {workers_runs[2][-1].rps:,.0f} req/s")  # fmt: skip
        one.stop()
        two.stop()
        workers_ratio = statistics.median(
            b.rps / a.rps for a, b in zip(workers_runs[1], workers_runs[2], strict=True)
        )

        # ---- the report
        uvicorn_version = subprocess.run(
            [python, "-c", "import uvicorn; print(uvicorn.__version__)"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        stack_line = [
            line for line in site.log_path.read_text().splitlines() if "serving with" in line
        ]
        print()
        print(
            f"make bench: {rounds} round(s), {seconds} s per run, wrk -t{THREADS} -c{CONNECTIONS}"
            f" on {HOST}; {os.cpu_count()} CPU(s); Python {platform.python_version()},"
            f" uvicorn {uvicorn_version}, wrk {' '.join(wrk_version.stdout.split()[1:2])}"
        )
        print(f"code measured: {code}")
        print(f"site and bare app: {stack_line[0].split(': ', 1)[1] if stack_line else '?'}"
              f" (the bare app runs on the same uvicorn configuration)")  # fmt: skip
        pinned = "the servers on CPU 0, wrk on CPU 1 (taskset)" if stack.server_cpu else "unpinned"
        print(
            f"1-minute load average before the run: {load_before:.2f} (other work on this"
            f" machine moves the absolute numbers; the ratios are the figures); {pinned}"
        )
        print(
            "Medians over the rounds. × bare = site req/s ÷ bare-app req/s of the same round"
            " (the bare app runs first in every round). GETs send Chromium's"
            f" 'Accept-Encoding: {ACCEPT_ENCODING}'; the POST sends none (wrk reads its answer)."
        )
        print()
        print("Public pages at four instants of Wednesday 2026-12-02 (ET), each in a fresh server"
              " whose clock starts there (libfaketime; the bare app under the same clock):"
              " × bare per instant")  # fmt: skip
        print()
        instants_table = [
            (label, *[f"{page_rows[label][e.key].ratio or 0:.3f}" for e in pages])
            for label, _ in INSTANTS
        ]
        print_grid(("instant (ET)", *[e.key for e in pages]), instants_table,
                   right=set(range(1, len(pages) + 1)))  # fmt: skip
        print()
        print("Every row: the public pages at their worst instant, then the rest:")
        print()
        print_table(rows, post_check)
        print()
        low, high = WORKERS_GOAL
        print(
            f"--workers 2 vs 1 on the home page (wrk -t{THREADS} sharing both CPUs, unpinned):"
            f" 1 worker {statistics.median(r.rps for r in workers_runs[1]):,.0f} req/s,"
            f" 2 workers {statistics.median(r.rps for r in workers_runs[2]):,.0f} req/s,"
            f" {workers_ratio:.2f}×  [goal ≥ {low}× (moonshot {high}×):"
            f" {verdict(workers_ratio >= low, workers_ratio >= high)}]"
        )
        gain = (grouped_row.rps / single_row.rps) if single_row.runs and single_row.rps else 0
        print(
            f"group commit: {grouped_row.rps:,.0f} req/s stored with it,"
            f" {single_row.rps:,.0f} without (one synced commit per request): {gain:.1f}×"
        )
        print()
        start_ok = max(site_start, restart) < 0.5
        print(
            f"start → first 200 (/healthz, polled every 5 ms): site {site_start:.3f} s on a fresh"
            f" database (migrated), {restart:.3f} s on the 100,000-row one"
            f"  [goal < 0.5 s: {mark(start_ok)}]"
        )
        print(
            f"memory after the load (VmRSS): site {site_rss:.1f} MB (peak VmHWM"
            f" {site_peak:.1f} MB), bare app {bare_rss:.1f} MB"
            f"  [goal < 80 MB: {mark(site_rss < 80)}]"
        )
        print(
            "    site VmRSS after each phase: "
            + ", ".join(f"{name} {rss:.1f} MB" for name, rss in memory_after)
        )
        kb = visit.transferred / 1000
        (size, count), (moon_size, moon_count) = VISIT_GOAL
        clean = not visit.fonts and not visit.third_party
        visit_ok = visit.transferred <= size and visit.requests <= count and clean
        visit_moon = visit.transferred <= moon_size and visit.requests <= moon_count and clean
        bodies = sum(r["decoded"] for r in visit.resources) / 1000
        print(
            f"first visit to the article ({visit.method}): {visit.requests} requests,"
            f" {kb:.1f} KB transferred, web fonts: {len(visit.fonts)}, third-party requests:"
            f" {len(visit.third_party)}  [goal ≤ {size // 1000} KB, ≤ {count} requests"
            f" (moonshot {moon_size // 1000} KB, {moon_count}), no fonts, no third party:"
            f" {verdict(visit_ok, visit_moon)}]"
        )
        print(
            f"    {bodies:.1f} KB of bodies; Content-Encoding sent: {encodings}; with gzip -6 on"
            f" every response where it helps: ~{gzipped / 1000:.1f} KB"
        )
        for resource in visit.resources:
            path = urlsplit(resource["url"])
            shown = path.path + (f"?{path.query}" if path.query else "")
            if path.hostname != HOST:
                shown = resource["url"]
            print(
                f"    {resource['transferred']:>7,} B  {resource.get('status')}"
                f"  {resource.get('encoding') or 'identity':<8}  {shown}"
            )
        for note in visit.notes:
            print(f"    ({note})")
        confirmed = post_check.in_flight_confirmed
        print(
            f"stored rows vs acknowledged submissions: {post_check.stored:,} stored,"
            f" {post_check.acknowledged:,} acknowledged by wrk + {confirmed} in flight when wrk"
            f" stopped (resubmitted: same reference back, nothing stored twice):"
            f" {'OK' if post_check.ok else 'MISMATCH'}"
        )
        for problem in post_check.problems:
            print(f"    MISMATCH: {problem}")
        print(
            f"settings changed from the defaults: FORWARDED_ALLOW_IPS={PROXY} as behind the"
            " documented proxy (each POST from its own X-Forwarded-For address, so the default"
            " per-address limit 5/600 holds), BACKUP_TIME=off; DATABASE_PATH and SECRET_KEY"
            " point to this run's temporary files; GROUP_COMMIT=off for its row"
        )
        print(f"total time {time.perf_counter() - wall:.0f} s")
        failed = False
        return 0 if post_check.ok else 1
    finally:
        for running in servers:
            running.stop()
        if keep or failed:
            log(f"kept {work} (database, server logs)")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessError as exc:
        print(f"bench: harness failed: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
