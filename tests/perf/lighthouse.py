"""`make lighthouse`: Lighthouse (npm package, pinned) with Debian's Chromium, mobile profile.

Starts the site as shipped (`python -m webapp serve`, temporary database, its defaults), runs
Lighthouse's performance, accessibility, best-practices and SEO categories on the home,
article, clinic and consultation pages, and prints the four scores per page and every audit
that keeps a score below 100 (score < 1, not informative / not applicable / manual).

The pages are loaded from http://127.0.0.1:PORT: Lighthouse treats 127.0.0.1, like localhost,
as a secure context (core/lib/url-utils.js, SECURE_LOCALHOST_DOMAINS), so plain HTTP does not
fail `is-on-https` here; production sits behind TLS.

Environment: LIGHTHOUSE (the CLI, default .cache/lighthouse/node_modules/.bin/lighthouse),
CHROME_PATH (default Debian's /usr/lib/chromium/chromium), LIGHTHOUSE_RUNS (per page, default
1; with more, the median score per category is shown and failing audits say in how many runs).
The JSON and HTML reports stay in .cache/lighthouse/reports/.
Exit code: 0 when every run completed (scores below 100 are findings), 2 when one could not run.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import APP_VARS, CHROMIUM_CANDIDATES, HOST, ROOT, HarnessError, Server, free_port

PAGES = (
    ("home", "/"),
    ("article", "/articles/does-ketamine-treat-depression"),
    ("clinic", "/clinic"),
    ("consultation", "/consultation"),
)
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
SHORT = {"performance": "perf", "accessibility": "a11y", "best-practices": "best", "seo": "seo"}
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage"
IGNORED_MODES = {"informative", "notApplicable", "manual"}
REPORTS = ROOT / ".cache" / "lighthouse" / "reports"
METRICS = (
    ("FCP", "first-contentful-paint"),
    ("LCP", "largest-contentful-paint"),
    ("TBT", "total-blocking-time"),
    ("CLS", "cumulative-layout-shift"),
    ("SI", "speed-index"),
)


def log(message: str) -> None:
    print(f"lighthouse: {message}", file=sys.stderr, flush=True)


def chrome_path() -> str:
    configured = os.environ.get("CHROME_PATH", "").strip()
    for candidate in (configured, *CHROMIUM_CANDIDATES):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise HarnessError("no Chromium: apt-get install -y chromium, or set CHROME_PATH")


def run_lighthouse(cli: str, chrome: str, url: str, out: Path) -> dict:
    """One Lighthouse run (mobile, four categories); returns its report (LHR)."""
    argv = [
        cli, url,
        "--form-factor=mobile",
        "--only-categories=" + ",".join(CATEGORIES),
        f"--chrome-flags={CHROME_FLAGS}",
        "--output=json", "--output=html", f"--output-path={out}",
        "--quiet",
    ]  # fmt: skip
    proc = subprocess.Popen(  # noqa: S603 (our own command line)
        argv,
        env={**os.environ, "CHROME_PATH": chrome},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: Lighthouse and the Chromium it starts
    )
    try:
        _, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group this harness created, by its id
        proc.communicate()
        raise HarnessError(f"Lighthouse did not finish in 240 s on {url}") from None
    report = out.with_name(out.name + ".report.json")
    if proc.returncode != 0 or not report.is_file():
        raise HarnessError(f"Lighthouse failed on {url} ({proc.returncode}): {stderr.strip()}")
    return json.loads(report.read_text(encoding="utf-8"))


def failing(lhr: dict) -> list[tuple[str, str, str, bool]]:
    """(category, audit id, title + value, counts towards the score) below a perfect score."""
    found = []
    for category in CATEGORIES:
        for ref in lhr["categories"][category]["auditRefs"]:
            audit = lhr["audits"][ref["id"]]
            mode = audit.get("scoreDisplayMode")
            if mode in IGNORED_MODES:
                continue
            if mode == "error" or (audit.get("score") is not None and audit["score"] < 1):
                value = audit.get("displayValue") or audit.get("errorMessage") or ""
                text = audit["title"] + (f" ({value})" if value else "")
                found.append((SHORT[category], ref["id"], text, ref.get("weight", 0) > 0))
    return found


def main() -> int:
    cli = os.environ.get("LIGHTHOUSE") or str(
        ROOT / ".cache/lighthouse/node_modules/.bin/lighthouse"
    )
    if not (shutil.which(cli) or Path(cli).is_file()):
        raise HarnessError(f"no Lighthouse at {cli}: run `make lighthouse`, which installs it")
    chrome = chrome_path()
    runs = int(os.environ.get("LIGHTHOUSE_RUNS", "1") or "1")
    wall = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="aki-lighthouse-"))
    REPORTS.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in APP_VARS}
    env.update(DATABASE_PATH=str(work / "site.db"), SECRET_KEY=secrets.token_urlsafe(48))
    port = free_port()
    site = Server(
        "the site", [sys.executable, "-m", "webapp", "serve", "--port", str(port)], env, port,
        work / "site.log",
    )  # fmt: skip
    results: dict[str, list[dict]] = {}
    version = chrome_version = ""
    failed = True
    try:
        site.start()
        for name, path in PAGES:
            for number in range(1, runs + 1):
                url = f"http://{HOST}:{port}{path}"
                log(f"{name} ({url}), run {number}/{runs}")
                lhr = run_lighthouse(cli, chrome, url, REPORTS / f"{name}-{number}")
                results.setdefault(name, []).append(lhr)
                version = lhr.get("lighthouseVersion", "")
                chrome_version = lhr.get("environment", {}).get("hostUserAgent", "")
        failed = False
    finally:
        site.stop()
        if failed:
            log(f"kept {work} (site log)")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(
        f"make lighthouse: Lighthouse {version}, mobile (simulated throttling), {runs} run(s) per"
        f" page; {chrome}"
    )
    print(f"browser: {chrome_version}")
    print()
    header = ("page", *(SHORT[c] for c in CATEGORIES), "")
    lines = []
    for name, _ in PAGES:
        lhrs = results[name]
        # As Lighthouse shows them: Math.round(score * 100).
        scores = [
            math.floor(100 * statistics.median(lhr["categories"][c]["score"] or 0 for lhr in lhrs)
                       + 0.5)
            for c in CATEGORIES
        ]  # fmt: skip
        lines.append((name, *map(str, scores), "PASS" if all(s == 100 for s in scores) else "FAIL"))
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    for row in [header, None, *lines]:
        if row is None:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
            continue
        cells = [c.ljust(w) if i in (0, len(row) - 1) else c.rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    print()
    for name, path in PAGES:
        lhr = results[name][0]
        metrics = ", ".join(
            f"{short} {lhr['audits'][audit_id].get('displayValue', '?')}"
            for short, audit_id in METRICS
        )
        print(f"{name} ({path}), simulated mobile metrics (run 1): {metrics}")
    print()
    for name, path in PAGES:
        counted: dict[tuple[str, str, str, bool], int] = {}
        for lhr in results[name]:
            for item in failing(lhr):
                counted[item] = counted.get(item, 0) + 1
        if not counted:
            print(f"{name} ({path}): every scored audit passes")
            continue
        print(f"{name} ({path}): audits below 100")
        ordered = sorted(counted.items(), key=lambda item: (not item[0][3], item[0]))
        for (category, audit_id, text, weighted), count in ordered:
            note = "" if weighted else " [diagnostic, weight 0]"
            times = f" [{count}/{runs} runs]" if runs > 1 else ""
            print(f"    {category:<4} {audit_id}: {text}{note}{times}")
    print()
    print(f"reports: {REPORTS.relative_to(ROOT)}/<page>-<run>.report.html (and .json)")
    print(f"total time {time.perf_counter() - wall:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessError as exc:
        print(f"lighthouse: harness failed: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
