"""The coverage picture: every account × (service, region) of a run or a plan, as one HTML file.

People responsible for hundreds of accounts would rather look at coverage than read it. This
module turns a :class:`~reconciler.pipeline.RunReport` into a grid of cells, one per account and
shard, each with a status (converged, pending, failed, blocked, unmanaged, skipped) and, for
every cell that is not green, its reason; then into a self-contained HTML page (one file, its
script and styles inline, its data embedded as JSON, no network: a Content-Security-Policy
forbids any fetch) that draws the grid with a legend, per-shard counts, search and filters, and
shows each cell's reason on hover and on click.

It must stay usable at 10,000 accounts × 17 regions × 3 services (510,000 cells): the data is
compact (each shard's cells one string of base-36 indices into a table of distinct (status,
reason) pairs), and the page draws only the rows in view. It hands ``render.py`` a string.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

from reconciler.diff import DriftKind
from reconciler.model import ShardKey
from reconciler.pipeline import RunReport
from reconciler.redact import clean
from reconciler.verify import Outcome

CONVERGED, PENDING, FAILED, BLOCKED, UNMANAGED, SKIPPED = (
    "converged",
    "pending",
    "failed",
    "blocked",
    "unmanaged",
    "skipped",
)
#: The statuses, in the legend's order, with their colours (chosen to stay apart for the common
#: forms of colour blindness: green, amber, red, purple, and two greys).
STATUSES: tuple[tuple[str, str], ...] = (
    (CONVERGED, "#2da44e"),
    (PENDING, "#d4a72c"),
    (FAILED, "#cf222e"),
    (BLOCKED, "#8250df"),
    (UNMANAGED, "#6e7781"),
    (SKIPPED, "#c8ced6"),
)
# When several findings touch one cell, the one a reader must act on first wins.
_PRECEDENCE = {FAILED: 0, BLOCKED: 1, PENDING: 2, SKIPPED: 3, UNMANAGED: 4, CONVERGED: 5}
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class Grid:
    """Cells by shard: ``cells[key][account] = (status, reason)``; accounts sorted."""

    accounts: tuple[str, ...]
    keys: tuple[ShardKey, ...]
    cells: Mapping[ShardKey, Mapping[str, tuple[str, str]]]

    def counts(self, key: ShardKey) -> Counter[str]:
        return Counter(status for status, _ in self.cells[key].values())


def grid(report: RunReport, *, mask_emails: bool = True) -> Grid:
    """Every (account, shard) the run knows of, with its status and reason."""
    plan = report.plan
    keys = tuple(shard.key for shard in plan.shards)
    cells: dict[ShardKey, dict[str, tuple[str, str]]] = {key: {} for key in keys}
    cleaned: dict[str, str] = {"": ""}

    def scrubbed(reason: str) -> str:
        # A blocked shard's reason stands in every one of its cells: scrubbed once.
        if reason not in cleaned:
            cleaned[reason] = clean(reason, mask=mask_emails)
        return cleaned[reason]

    def put(key: ShardKey, account: str, status: str, reason: str) -> None:
        shard = cells.setdefault(key, {})
        held = shard.get(account)
        if held is None or _PRECEDENCE[status] < _PRECEDENCE[held[0]]:
            shard[account] = (status, scrubbed(reason))

    for shard in plan.shards:
        observation = report.observations.get(shard.key)
        members = observation.members if observation is not None else {}
        desired = report.desired.shards.get(shard.key, {})
        if not shard.ready:
            for account in desired:
                put(shard.key, account, BLOCKED, shard.reason or "the shard is blocked")
            continue
        for account in desired:
            if account in members:
                put(shard.key, account, CONVERGED, "")
    for action in plan.actions:
        for account in action.account_ids:
            put(action.key, account, PENDING, f"planned: {action.step.value}")
    for item in plan.drift:
        if item.kind is DriftKind.SKIPPED:
            put(item.key, item.account_id, SKIPPED, item.detail)
        elif item.kind is DriftKind.UNMANAGED and not item.blocking:
            put(item.key, item.account_id, UNMANAGED, item.detail)
        elif item.blocking:
            put(item.key, item.account_id, BLOCKED, f"{item.kind.value}: {item.detail}")
    if report.results is not None:
        applied: dict[tuple[ShardKey, str], tuple[str, str]] = {}
        for result in report.results:
            if result.outcome is Outcome.FAILED:
                applied[(result.key, result.account_id)] = (FAILED, result.reason)
            else:
                applied[(result.key, result.account_id)] = (CONVERGED, "")
        for (key, account), (status, reason) in applied.items():
            by_account = cells.setdefault(key, {})
            if status == FAILED or by_account.get(account, (PENDING, ""))[0] == PENDING:
                by_account[account] = (status, scrubbed(reason))
    accounts = tuple(sorted({account for shard in cells.values() for account in shard}))
    return Grid(accounts, keys, cells)


def payload(report: RunReport, *, mask_emails: bool = True) -> dict[str, object]:
    """The page's data: shards, accounts, the table of distinct cells, each shard's cells."""
    picture = grid(report, mask_emails=mask_emails)
    kinds: list[tuple[str, str]] = [("", "")]  # index 0: the account is not in this shard
    index_of: dict[tuple[str, str], int] = {kinds[0]: 0}
    encoded: list[list[int]] = []
    for key in picture.keys:
        shard = picture.cells[key]
        row = []
        for account in picture.accounts:
            cell = shard.get(account, kinds[0])
            found = index_of.get(cell)
            if found is None:
                found = index_of[cell] = len(kinds)
                kinds.append(cell)
            row.append(found)
        encoded.append(row)
    width = 1
    while len(_ALPHABET) ** width < len(kinds):
        width += 1
    blocked = {shard.key: shard.reason for shard in report.plan.shards if not shard.ready}
    return {
        "administrator": report.desired.administrator_account_id,
        "source": report.desired.source,
        "dryRun": report.dry_run,
        "status": report.status.value,
        "statuses": [{"name": name, "colour": colour} for name, colour in STATUSES],
        "accounts": list(picture.accounts),
        "shards": [
            {
                "service": str(key.service),
                "region": key.region,
                "blocked": clean(blocked[key] or "", mask=mask_emails) if key in blocked else None,
                "counts": dict(picture.counts(key)),
            }
            for key in picture.keys
        ],
        "kinds": [list(kind) for kind in kinds],
        "width": width,
        "cells": ["".join(_encode(i, width) for i in row) for row in encoded],
    }


def _encode(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, digit = divmod(value, len(_ALPHABET))
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))


def render_html(report: RunReport, *, mask_emails: bool = True) -> str:
    """The self-contained HTML page of the run's coverage."""
    data = json.dumps(payload(report, mask_emails=mask_emails), separators=(",", ":"))
    # Inside <script>, "</" could close the element and "<!--" open a comment: no "<" at all
    # (JSON's own escape, which the page's JSON.parse reads back as "<").
    data = data.replace("<", "\\u003c")
    title = f"reconcile coverage: administrator {report.desired.administrator_account_id}"
    return _PAGE.replace("@TITLE@", escape(title)).replace("@DATA@", data)


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>@TITLE@</title>
<style>
body { font: 13px/1.4 system-ui, sans-serif; margin: 0; color: #1f2328; }
header, #controls, #legend, #shards-wrap { padding: 6px 12px; }
h1 { font-size: 16px; margin: 6px 0; }
#legend button { border: 1px solid #d0d7de; background: #fff; border-radius: 4px; margin: 2px 4px 2px 0; padding: 2px 8px; cursor: pointer; }
#legend button[aria-pressed="true"] { outline: 2px solid #0969da; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: middle; }
#shards-wrap { max-height: 160px; overflow: auto; }
#shards { border-collapse: collapse; }
#shards td, #shards th { border: 1px solid #d0d7de; padding: 1px 6px; text-align: right; }
#shards td:nth-child(-n+2), #shards th:nth-child(-n+2) { text-align: left; }
#grid { position: relative; overflow: auto; height: calc(100vh - 330px); min-height: 200px; border-top: 1px solid #d0d7de; }
#head { position: sticky; top: 0; background: #fff; z-index: 1; white-space: nowrap; height: 90px; }
#head span { display: inline-block; width: 14px; height: 90px; writing-mode: vertical-rl; transform: rotate(180deg); font-size: 10px; overflow: hidden; }
#head .acct, .row .acct { width: 110px; writing-mode: horizontal-tb; transform: none; font-family: ui-monospace, monospace; }
#rows { position: relative; }
.row { position: absolute; left: 0; height: 16px; white-space: nowrap; }
.row span { display: inline-block; width: 12px; height: 12px; margin: 2px 1px; vertical-align: top; cursor: pointer; }
.row .acct { height: 16px; margin: 0 0 0 0; font-size: 11px; cursor: default; }
#detail { position: fixed; right: 12px; bottom: 12px; max-width: 420px; background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 8px; box-shadow: 0 2px 8px #0002; }
#detail:empty { display: none; }
</style>
</head>
<body>
<header><h1 id="title"></h1><p id="summary"></p></header>
<section id="legend" aria-label="legend and status filter"></section>
<section id="controls">
<input id="search" type="search" placeholder="search account ID" aria-label="search account ID">
<select id="service" aria-label="service"><option value="">all services</option></select>
<select id="region" aria-label="region"><option value="">all regions</option></select>
<span id="shown"></span>
</section>
<div id="shards-wrap"><table id="shards"><thead></thead><tbody></tbody></table></div>
<div id="grid"><div id="head"></div><div id="rows"></div></div>
<div id="detail" role="status"></div>
<script id="data" type="application/json">@DATA@</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const ROW = 16, W = D.width, NA = 0;
const colour = Object.fromEntries(D.statuses.map(s => [s.name, s.colour]));
const kindAt = (shard, row) => parseInt(D.cells[shard].substr(row * W, W), 36);
const el = (tag, props, ...children) => { const e = document.createElement(tag); Object.assign(e, props || {}); e.append(...children); return e; };
document.getElementById("title").textContent = document.title;
document.getElementById("summary").textContent =
  `${D.source}; ${D.dryRun ? "a plan (dry run)" : "a run"}; status ${D.status}; ` +
  `${D.accounts.length} accounts × ${D.shards.length} shards`;
const active = new Set();  // statuses the rows must show; none: every row
const totals = {};
D.shards.forEach(s => D.statuses.forEach(({ name }) => { totals[name] = (totals[name] || 0) + (s.counts[name] || 0); }));
const legend = document.getElementById("legend");
D.statuses.forEach(({ name, colour: c }) => {
  const b = el("button", { type: "button", title: `show only accounts with a ${name} cell` },
    el("span", { className: "swatch" }), `${name} `, el("b", { className: "count" }, String(totals[name] || 0)));
  b.dataset.status = name; b.setAttribute("aria-pressed", "false");
  b.firstChild.style.background = c;
  b.onclick = () => { active.has(name) ? active.delete(name) : active.add(name); b.setAttribute("aria-pressed", String(active.has(name))); refilter(); };
  legend.append(b);
});
const services = [...new Set(D.shards.map(s => s.service))], regions = [...new Set(D.shards.map(s => s.region))];
services.forEach(s => document.getElementById("service").append(el("option", { value: s }, s)));
regions.forEach(r => document.getElementById("region").append(el("option", { value: r }, r)));
const thead = document.querySelector("#shards thead"), tbody = document.querySelector("#shards tbody");
thead.append(el("tr", {}, el("th", {}, "service"), el("th", {}, "region"), ...D.statuses.map(s => el("th", {}, s.name))));
D.shards.forEach(s => {
  const tr = el("tr", { title: s.blocked ? `blocked: ${s.blocked}` : "" }, el("td", {}, s.service), el("td", {}, s.region),
    ...D.statuses.map(({ name }) => el("td", {}, String(s.counts[name] || 0))));
  tr.dataset.shard = `${s.service}/${s.region}`;
  tbody.append(tr);
});
let columns = [], rows = [];
const head = document.getElementById("head"), body = document.getElementById("rows"), grid = document.getElementById("grid");
function refilter() {
  const svc = document.getElementById("service").value, reg = document.getElementById("region").value;
  columns = D.shards.map((s, i) => i).filter(i => (!svc || D.shards[i].service === svc) && (!reg || D.shards[i].region === reg));
  const needle = document.getElementById("search").value.trim();
  rows = [];
  for (let r = 0; r < D.accounts.length; r++) {
    if (needle && !D.accounts[r].includes(needle)) continue;
    let keep = active.size === 0, any = false;
    for (const c of columns) {
      const k = kindAt(c, r);
      if (k === NA) continue;
      any = true;
      if (!keep && active.has(D.kinds[k][0])) { keep = true; break; }
    }
    if (keep && any) rows.push(r);
  }
  head.replaceChildren(el("span", { className: "acct" }, "account"),
    ...columns.map(c => el("span", { title: `${D.shards[c].service} ${D.shards[c].region}` }, `${D.shards[c].service} ${D.shards[c].region}`)));
  body.style.height = `${rows.length * ROW}px`;
  body.style.width = `${112 + columns.length * 14}px`;
  document.getElementById("shown").textContent = `${rows.length} of ${D.accounts.length} accounts shown`;
  draw();
}
function draw() {
  const first = Math.max(0, Math.floor((grid.scrollTop - 90) / ROW) - 5);
  const last = Math.min(rows.length, first + Math.ceil(grid.clientHeight / ROW) + 10);
  const out = [];
  for (let i = first; i < last; i++) {
    const r = rows[i], line = el("div", { className: "row" }, el("span", { className: "acct" }, D.accounts[r]));
    line.style.top = `${i * ROW}px`;
    line.dataset.account = D.accounts[r];
    for (const c of columns) {
      const k = kindAt(c, r), cell = el("span");
      if (k !== NA) {
        const [status, reason] = D.kinds[k];
        cell.style.background = colour[status];
        cell.dataset.status = status;
        cell.title = `${D.accounts[r]} ${D.shards[c].service} ${D.shards[c].region}: ${status}${reason ? ` (${reason})` : ""}`;
      }
      cell.dataset.shard = `${D.shards[c].service}/${D.shards[c].region}`;
      line.append(cell);
    }
    out.push(line);
  }
  body.replaceChildren(...out);
}
body.addEventListener("click", e => { if (e.target.title) document.getElementById("detail").textContent = e.target.title; });
grid.addEventListener("scroll", () => requestAnimationFrame(draw));
window.addEventListener("resize", draw);
document.getElementById("search").addEventListener("input", refilter);
document.getElementById("service").addEventListener("change", refilter);
document.getElementById("region").addEventListener("change", refilter);
refilter();
performance.mark("grid-drawn");
</script>
</body>
</html>
"""
