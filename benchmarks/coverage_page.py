"""``python -m benchmarks.coverage_page``: the coverage picture at 10,000 accounts × 17 regions ×
3 services, its size and its first paint in Chromium.

The goal (issue 15): the self-contained page of ``--output html`` stays usable at that size, a
file under 5 MB whose first paint comes within 2 s in Chromium on this machine. The plan is
planned for real (manifest side built in Python, the observation of every shard made up: most
members converged, some missing, some resigned, some unmanaged, one region blocked per service),
rendered by :func:`reconciler.coverage.render_html`, written to a file and opened in Debian's
headless Chromium through Selenium. Measured: render CPU, file size, first contentful paint and
the page's own "grid-drawn" mark (its script has decoded the data and drawn the rows in view),
both from the browser's navigation start. Printed as a table; the goals are checked and reported,
never asserted in a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from reconciler.coverage import render_html
from reconciler.model import (
    DesiredMember,
    DesiredState,
    InvitationSettings,
    MemberStatus,
    Mode,
    ObservedMember,
    ServiceSettings,
    ShardKey,
    ShardObservation,
)
from reconciler.pipeline import run
from reconciler.services import registry

REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2",
    "eu-west-3", "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2",
    "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "sa-east-1",
)  # fmt: skip
ADMIN = "111111111111"
SIZE_GOAL_BYTES = 5 * 1024 * 1024
PAINT_GOAL_SECONDS = 2.0


class _Port:
    def __init__(self, observation: ShardObservation) -> None:
        self.observation = observation

    @property
    def key(self) -> ShardKey:
        return self.observation.key

    def observe(self) -> ShardObservation:
        return self.observation


def build(accounts: int) -> Any:
    """The run report of a dry run over ``accounts`` accounts in every shard."""
    ids = [f"{200_000_000_000 + i:012d}" for i in range(accounts)]
    members = {a: DesiredMember(a, f"aws+{a}@example.com") for a in ids}
    services = registry.NAMES
    keys = [ShardKey(service, region) for service in services for region in REGIONS]
    desired = DesiredState(
        source="benchmark.yaml",
        administrator_account_id=ADMIN,
        administrator_role_arn=None,
        partition="aws",
        regions=REGIONS,
        services={s: ServiceSettings(s, Mode.ORGANIZATION, InvitationSettings()) for s in services},
        shards={key: members for key in keys},
    )
    ports = {}
    for key in keys:
        if key.region == REGIONS[-1]:
            ports[key] = _Port(ShardObservation(key, ready=False, reason="not enabled here"))
            continue
        observed = {}
        for index, account in enumerate(ids):
            if index % 50 == 7:
                continue  # missing: to create
            status = MemberStatus.RESIGNED if index % 100 == 3 else MemberStatus.ENABLED
            email = f"aws+{account}@example.com"
            observed[account] = ObservedMember(account, email, status, status.value)
        for extra in range(accounts // 100):
            account = f"{900_000_000_000 + extra:012d}"
            observed[account] = ObservedMember(account, None, MemberStatus.ENABLED, "Enabled")
        ports[key] = _Port(ShardObservation(key, ready=True, members=observed))
    return run(desired, ports, dry_run=True)  # type: ignore[arg-type]


def _first_paint(path: Path) -> tuple[float, float]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        service=Service(executable_path="/usr/bin/chromedriver"), options=options
    )
    try:
        driver.get(path.as_uri())
        # The paint entry is recorded once the frame is presented, a moment after load.
        deadline = time.monotonic() + 30
        while True:
            paint, drawn = driver.execute_script(
                "const p = performance.getEntriesByName('first-contentful-paint')[0];"
                "const d = performance.getEntriesByName('grid-drawn')[0];"
                "return [p ? p.startTime : null, d ? d.startTime : null];"
            )
            if (paint is not None and drawn is not None) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if paint is None or drawn is None:
            raise RuntimeError("Chromium recorded no first paint within 30 s")
        rows = driver.execute_script("return document.querySelectorAll('#rows .row').length")
        if not rows:
            raise RuntimeError("the page drew no row")
        return float(paint) / 1000, float(drawn) / 1000
    finally:
        driver.quit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.coverage_page")
    parser.add_argument("--accounts", type=int, default=10_000)
    args = parser.parse_args(argv)
    started = time.process_time()
    report = build(args.accounts)
    planned = time.process_time() - started
    started = time.process_time()
    page = render_html(report)
    rendered = time.process_time() - started
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "coverage.html"
        path.write_text(page, encoding="utf-8")
        size = path.stat().st_size
        paint, drawn = _first_paint(path)
    cells = args.accounts * len(REGIONS) * len(registry.NAMES)
    print(
        "| accounts × regions × services | cells | plan CPU s | render CPU s | file MB "
        "| first paint s | grid drawn s |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|")
    print(
        f"| {args.accounts:,} × {len(REGIONS)} × {len(registry.NAMES)} | {cells:,} "
        f"| {planned:.2f} | {rendered:.2f} | {size / 1024 / 1024:.2f} | {paint:.2f} | {drawn:.2f} |"
    )
    print()
    print(f"- [{'x' if size < SIZE_GOAL_BYTES else ' '}] file {size / 1024 / 1024:.2f} MB (< 5)")
    print(f"- [{'x' if paint < PAINT_GOAL_SECONDS else ' '}] first paint {paint:.2f} s (< 2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
