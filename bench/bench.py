"""``make bench``: API calls, wall time and memory of one periodic sweep at 100, 1,000 and
5,000 users, against a per-user baseline measured in the same run on the same data.

IAM is a moto server in its own process; each sweep runs in a fresh interpreter
(bench/sweep_runner.py) so its peak RSS is the rule's alone. Calls are counted with a
botocore hook (deterministic); times are reported only as ratios within this run.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from rich.console import Console
from rich.table import Table

from iam_console_mfa.moto_server import reset, start
from iam_console_mfa.seed import Mfa, create_user

HERE = Path(__file__).resolve().parent
SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "100,1000,5000").split(",")]
PARAMETERS = {"AssumeRoleMode": "False", "ExemptUserNames": "svc-*"}  # DataSource: auto
IMPORT_RUNS = 7
console = Console(width=160)
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
os.environ.update(FAKE_AWS)  # never a real account: every call goes to the local moto server


def seed(url: str, n: int) -> dict[str, str]:
    """About 60% console users, 5% of them without MFA, a few of those exempt (svc-*).

    Returns UserId -> the expected verdict.
    """
    reset(url)
    iam = boto3.client("iam", endpoint_url=url)
    plan = []
    console_users = no_mfa = 0
    for i in range(n):
        console_user = i % 5 < 3
        console_users += console_user
        mfa = console_user and console_users % 20 != 1  # 5% of console users have none
        if console_user and not mfa:
            no_mfa += 1
        name = f"svc-{i:05d}" if console_user and not mfa and no_mfa <= 2 else f"user-{i:05d}"
        kind = Mfa.NONE if not mfa else Mfa.VIRTUAL if i % 10 == 1 else Mfa.HARDWARE
        plan.append((name, console_user, kind))

    def create(entry: tuple[str, bool, Mfa]) -> tuple[str, str]:
        name, console_user, mfa = entry
        user = create_user(iam, name, password=console_user, mfa=mfa)
        if not console_user:
            return user["UserId"], "NOT_APPLICABLE"
        if mfa is not Mfa.NONE:
            return user["UserId"], "COMPLIANT"
        return user["UserId"], "NOT_APPLICABLE" if name.startswith("svc-") else "NON_COMPLIANT"

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(pool.map(create, plan))


def run_sweep(mode: str, url: str, previous: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, **FAKE_AWS, "AWS_ENDPOINT_URL": url, "AWS_REGION": "us-east-1"}
    done = subprocess.run(
        [sys.executable, str(HERE / "sweep_runner.py"), mode, json.dumps(PARAMETERS)],
        input=json.dumps({"previous_results": previous}),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def import_seconds(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(IMPORT_RUNS)
    ]
    return statistics.median(times)


def real_iam_total(calls: dict[str, int], list_users_pages: int) -> int:
    """moto serves ListUsers in one page; count the pages real IAM would need instead."""
    return sum(calls.values()) - calls.get("ListUsers", 0) + list_users_pages


def measure(url: str, n: int) -> dict[str, Any]:
    expected = seed(url, n)
    stamp = datetime.now(UTC).timestamp()
    previous = {  # yesterday's sweep, so that rdklib's clean-up read pages as it would
        uid: {
            "ComplianceResourceId": uid,
            "ComplianceResourceType": "AWS::IAM::User",
            "ComplianceType": verdict,
            "OrderingTimestamp": stamp,
        }
        for uid, verdict in expected.items()
    }
    ours = run_sweep("ours", url, previous)
    base = run_sweep("baseline", url, previous)
    if ours["results"] != expected:
        wrong = {k: (v, expected.get(k)) for k, v in ours["results"].items() if expected.get(k) != v}
        raise SystemExit(f"N={n}: verdicts differ from the seeded truth: {list(wrong.items())[:5]}")
    confirmed = ours["non_compliant"]
    generate = ours["calls"].get("GenerateCredentialReport", 0)
    polls = max(0, generate - 1)
    floor = 1 + 1 + math.ceil(n / 1000) + math.ceil(n / 100) + math.ceil(n / 100)
    ours_total = real_iam_total(ours["calls"], math.ceil(n / 1000))
    base_total = real_iam_total(base["calls"], math.ceil(n / 100))  # ListUsers' default page: 100
    return {
        "users": n,
        "source": "credential-report" if generate else "live",
        "calls": ours["calls"],
        "total_calls": ours_total,
        "floor": floor,
        "confirmed_non_compliant": confirmed,
        "polls": polls,
        "budget": floor + 2 * confirmed + polls,
        "ratio_to_floor": ours_total / floor,
        "baseline_calls": base_total,
        "baseline_call_ratio": base_total / ours_total,
        "wall_seconds": ours["wall_seconds"],
        "baseline_wall_seconds": base["wall_seconds"],
        "wall_ratio": base["wall_seconds"] / ours["wall_seconds"],
        "peak_rss_mb": ours["peak_rss_mb"],
    }


def main() -> int:
    server, url = start()
    try:
        rows = [measure(url, n) for n in SIZES]
    finally:
        server.terminate()
    handler = import_seconds("IAM_USER_CONSOLE_MFA")
    rdklib = import_seconds("rdklib")

    table = Table(title="One periodic sweep (ours vs per-user baseline, same data, same run)")
    for column in (
        "N",
        "source",
        "calls by operation",
        "total",
        "floor",
        "ratio/floor",
        "budget",
        "baseline calls",
        "calls ×",
        "wall ×",
        "peak RSS MB",
    ):
        table.add_column(column, overflow="fold")
    for r in rows:
        ops = ", ".join(f"{op} {count}" for op, count in sorted(r["calls"].items()))
        table.add_row(
            str(r["users"]),
            r["source"],
            ops,
            str(r["total_calls"]),
            str(r["floor"]),
            f"{r['ratio_to_floor']:.2f}",
            str(r["budget"]),
            str(r["baseline_calls"]),
            f"{r['baseline_call_ratio']:.1f}",
            f"{r['wall_ratio']:.1f}",
            f"{r['peak_rss_mb']:.0f}",
        )
    console.print(table)
    console.print(
        "moto serves ListUsers in one page: totals count ⌈N/1000⌉ ListUsers pages for ours (MaxItems=1000) "
        "and ⌈N/100⌉ for the baseline (IAM's default MaxItems=100), as real IAM would need."
    )
    console.print(
        f"cold import (median of {IMPORT_RUNS}): handler {handler * 1000:.0f} ms, "
        f"rdklib {rdklib * 1000:.0f} ms, ratio {handler / rdklib:.2f}"
    )

    largest = max(rows, key=lambda r: r["users"])
    targets = {
        f"N={largest['users']}: total calls ≤ floor + 2×confirmed + polls ({largest['budget']})": largest[
            "total_calls"
        ]
        <= largest["budget"],
        f"N={largest['users']}: ≥ 40× fewer calls than baseline": largest["baseline_call_ratio"] >= 40,
        f"N={largest['users']}: ≥ 10× less wall time than baseline": largest["wall_ratio"] >= 10,
        f"N={largest['users']}: peak RSS ≤ 128 MB": largest["peak_rss_mb"] <= 128,
        "handler import ≤ 1.15 × import rdklib": handler <= 1.15 * rdklib,
    }
    for target, met in targets.items():
        console.print(f"[{'green' if met else 'red'}]{'PASS' if met else 'FAIL'}[/] {target}")

    results = HERE / "results"
    results.mkdir(exist_ok=True)
    out = results / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(
        json.dumps(
            {"rows": rows, "import": {"handler_s": handler, "rdklib_s": rdklib}, "targets": targets}, indent=2
        )
    )
    console.print(f"written {out.relative_to(HERE.parent)}")
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
