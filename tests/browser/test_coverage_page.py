"""The coverage picture (``--output html``) in a real headless browser: Debian's Chromium,
driven by Selenium through Debian's ChromeDriver (no browser is downloaded at run time).

The run is the lifecycle demo on the sandbox (blocked opt-in regions, creates, an unmanaged
member); the same plan is rendered as JSON, and the page is checked against it.

Aspects under test:
- the page is one self-contained file: no element loads anything (no src or href), and a
  Content-Security-Policy forbids every fetch;
- the legend's totals and each shard's counts equal what the JSON plan says (actions,
  blocked shards, blocking and unmanaged drift), and every drawn cell has its status's colour;
- a non-green cell carries its reason (title on hover; clicking shows it);
- search narrows the grid to the matching account; a status filter to the rows with such a cell.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from reconciler import cli

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARGS = [
    "--manifest",
    str(REPO / "manifests" / "lifecycle"),
    "--sandbox",
    str(REPO / "manifests" / "lifecycle-state.yaml"),
    "--dry-run",
    "--log-level",
    "error",
    "--no-progress",
]


def _render(output: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert cli.main([*ARGS, "--output", output]) == cli.EXIT_FAILED  # blocked regions
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(
    browser: WebDriver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[WebDriver, dict[str, Any], str]:
    html = _render("html", capsys)
    plan = json.loads(_render("json", capsys))
    path = tmp_path / "coverage.html"
    path.write_text(html, encoding="utf-8")
    browser.get(path.as_uri())
    return browser, plan, html


def _expected(plan: dict[str, Any]) -> dict[tuple[str, str], Counter[str]]:
    """Each shard's non-green counts, from the JSON plan alone."""
    expected: dict[tuple[str, str], Counter[str]] = {}
    for shard in plan["shards"]:
        key = (shard["service"], shard["region"])
        counts: Counter[str] = Counter()
        if shard["status"] == "blocked":
            counts["blocked"] = shard["desired"]
        pending = {
            a
            for action in plan["actions"]
            if (action["service"], action["region"]) == key
            for a in action["account_ids"]
        }
        counts["pending"] = len(pending)
        drift = [d for d in plan["drift"] if (d["service"], d["region"]) == key]
        blocking = {d["account_id"] for d in drift if d["blocking"]} - pending
        counts["blocked"] += len(blocking)
        unmanaged = {
            d["account_id"] for d in drift if d["kind"] == "unmanaged" and not d["blocking"]
        }
        counts["unmanaged"] = len(unmanaged - pending - blocking)
        counts["skipped"] = len({d["account_id"] for d in drift if d["kind"] == "skipped"})
        expected[key] = +counts
    return expected


def _rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, 1)"


def test_the_page_is_one_self_contained_file(page: tuple[WebDriver, dict[str, Any], str]) -> None:
    driver, _, html = page
    assert not re.search(r"\s(src|href)\s*=", html)
    assert "default-src 'none'" in html
    loaded = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert loaded == []


def test_counts_and_colours_match_the_json_plan(
    page: tuple[WebDriver, dict[str, Any], str],
) -> None:
    driver, plan, _ = page
    statuses = [
        b.get_attribute("data-status")
        for b in driver.find_elements(By.CSS_SELECTOR, "#legend button")
    ]
    assert statuses == ["converged", "pending", "failed", "blocked", "unmanaged", "skipped"]
    header = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#shards thead th")]
    expected = _expected(plan)
    shown: dict[tuple[str, str], Counter[str]] = {}
    for row in driver.find_elements(By.CSS_SELECTOR, "#shards tbody tr"):
        cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
        counts = Counter(dict(zip(header[2:], map(int, cells[2:]), strict=True)))
        shown[(cells[0], cells[1])] = counts
    assert set(shown) == set(expected)
    for key, counts in shown.items():
        assert +Counter({k: v for k, v in counts.items() if k != "converged"}) == expected[key], key
    assert sum(c["pending"] for c in shown.values()) == 30
    assert sum(c["blocked"] for c in shown.values()) >= 14  # two blocked opt-in region shards
    # Every drawn cell has its status's colour; the legend's totals are the cells drawn.
    swatches = {
        b.get_attribute("data-status"): b.find_element(
            By.CLASS_NAME, "swatch"
        ).value_of_css_property("background-color")
        for b in driver.find_elements(By.CSS_SELECTOR, "#legend button")
    }
    colours = {
        s["name"]: s["colour"]
        for s in json.loads(driver.execute_script("return JSON.stringify(D.statuses)"))
    }
    drawn: Counter[str] = Counter()
    for cell in driver.find_elements(By.CSS_SELECTOR, "#rows .row span[data-status]"):
        status = cell.get_attribute("data-status")
        assert (
            cell.value_of_css_property("background-color")
            == swatches[status]
            == _rgb(colours[status])
        )
        drawn[status] += 1
    totals = {
        b.get_attribute("data-status"): int(b.find_element(By.CLASS_NAME, "count").text)
        for b in driver.find_elements(By.CSS_SELECTOR, "#legend button")
    }
    assert +Counter(totals) == drawn


def test_a_non_green_cell_says_why(page: tuple[WebDriver, dict[str, Any], str]) -> None:
    driver, plan, _ = page
    (blocked,) = [
        s for s in plan["shards"] if s["status"] == "blocked" and s["service"] == "guardduty"
    ]
    cell = driver.find_element(
        By.CSS_SELECTOR,
        f'#rows .row span[data-shard="guardduty/{blocked["region"]}"][data-status="blocked"]',
    )
    assert blocked["reason"][:60] in cell.get_attribute("title")
    cell.click()
    assert blocked["reason"][:60] in driver.find_element(By.ID, "detail").text


def test_search_and_the_status_filter_narrow_the_grid(
    page: tuple[WebDriver, dict[str, Any], str],
) -> None:
    driver, plan, _ = page
    pending = {a for action in plan["actions"] for a in action["account_ids"]}
    # The one member left alone (protected from prune), not one about to be removed.
    (unmanaged,) = {d["account_id"] for d in plan["drift"] if d["kind"] == "unmanaged"} - pending
    search = driver.find_element(By.ID, "search")
    search.send_keys(unmanaged)
    rows = driver.find_elements(By.CSS_SELECTOR, "#rows .row")
    assert [r.get_attribute("data-account") for r in rows] == [unmanaged]
    assert driver.find_element(By.ID, "shown").text.startswith("1 of ")
    search.clear()
    search.send_keys("x")  # clear() does not fire input; typing then deleting does
    search.send_keys("\b")
    total = len(driver.find_elements(By.CSS_SELECTOR, "#rows .row"))
    assert total > 1
    driver.find_element(By.CSS_SELECTOR, '#legend button[data-status="unmanaged"]').click()
    rows = driver.find_elements(By.CSS_SELECTOR, "#rows .row")
    assert [r.get_attribute("data-account") for r in rows] == [unmanaged]
