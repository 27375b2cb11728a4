"""The report of a simulated day: a summary in the terminal and a self-contained HTML page.

The terminal gets three tables (``rich``): the day in numbers (events, decisions by outcome,
invites delivered, opened and held out, the invariants), why invites were not sent (every
reason code with its count), and store by store with the top suppression reasons.

The HTML page needs no network to view (inline CSS and SVG, no script): the day in numbers,
a timeline per store across the local day with its opening hours shaded and every invite
sent, deferred, held out or suppressed marked on it (hover for the customer and the
reason), the reasons breakdown with an example sentence each, and three customers' days,
every decision with its explanation: reasons, candidates and their scores.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from app.demo.city import TIMEZONE
from app.simulate.invariants import Invariants, check_invariants

if TYPE_CHECKING:
    from app.simulate.results import DayResults, DecisionRow, StoreDay, StoryTrail

__all__ = ["print_summary", "render_html"]

ZONE = ZoneInfo(TIMEZONE)

OUTCOME_COLOURS = {
    "send": "#1a7f4b",
    "defer": "#2f6fb3",
    "holdout": "#8a8f98",
    "suppress": "#c2412d",
}
OUTCOME_WORDS = {
    "send": "sent",
    "defer": "deferred to the opening",
    "holdout": "held out (control group)",
    "suppress": "suppressed",
}

# Reason families, for colours that group the suppressions on the timeline.
FAMILIES: dict[str, tuple[str, str]] = {
    "store_closed": ("timing", "#c2412d"),
    "closing_soon": ("timing", "#c2412d"),
    "hours_unknown": ("timing", "#c2412d"),
    "quiet_hours": ("timing", "#d9822b"),
    "open_complaint": ("service", "#7b4bb3"),
    "cancellation_pending": ("service", "#7b4bb3"),
    "recently_purchased": ("satiation", "#b3558a"),
    "already_inside": ("fatigue", "#a07a1f"),
    "frequency_cap": ("fatigue", "#a07a1f"),
    "store_cooldown": ("fatigue", "#a07a1f"),
    "campaign_cap": ("fatigue", "#a07a1f"),
    "suspected_spoof": ("quality", "#5b6470"),
    "low_accuracy": ("quality", "#5b6470"),
    "stale_event": ("quality", "#5b6470"),
    "no_location_consent": ("consent", "#3d4a5c"),
    "no_marketing_consent": ("consent", "#3d4a5c"),
    "no_active_device": ("consent", "#3d4a5c"),
    "no_eligible_campaign": ("fit", "#9aa3ad"),
    "template_error": ("fit", "#9aa3ad"),
}


def _local(instant: dt.datetime | str) -> dt.datetime:
    if isinstance(instant, str):
        instant = dt.datetime.fromisoformat(instant)
    return instant.astimezone(ZONE)


def _hhmm(instant: dt.datetime | str | None) -> str:
    return "" if instant is None else _local(instant).strftime("%H:%M")


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "-"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


@dataclass(frozen=True, slots=True)
class _StoreTotals:
    store: StoreDay
    decisions: int
    sent: int
    delivered: int
    opened: int
    held_out: int
    suppressed: int
    top: list[tuple[str, int]]


def _per_store(results: DayResults) -> list[_StoreTotals]:
    by_store: dict[str, list[DecisionRow]] = defaultdict(list)
    for decision in results.decisions:
        if decision.store_id:
            by_store[decision.store_id].append(decision)
    rows = []
    for store in results.stores:
        decisions = by_store.get(store.id, [])
        invites = [i for i in results.invites if i.store_id == store.id]
        reasons = Counter(d.reason or "?" for d in decisions if d.outcome == "suppress")
        rows.append(
            _StoreTotals(
                store=store,
                decisions=len(decisions),
                sent=sum(1 for i in invites if i.sent_at is not None),
                delivered=sum(1 for i in invites if i.status in _DELIVERED),
                opened=sum(1 for i in invites if i.status == "opened"),
                held_out=sum(1 for d in decisions if d.outcome == "holdout"),
                suppressed=sum(reasons.values()),
                top=reasons.most_common(3),
            )
        )
    rows.sort(key=lambda r: (-r.decisions, r.store.name))
    return rows


# -- terminal ----------------------------------------------------------------------------


def print_summary(results: DayResults, console: Console | None = None) -> Invariants:
    """The three tables of the terminal summary; returns the invariants checked."""
    console = console or Console()
    run, tally = results.run, results.run.tally
    invariants = check_invariants(results)
    outcomes = results.outcomes
    total = len(results.decisions)

    day = Table(
        title=f"Kairos at Meridian, London — {run.config.day:%A %d %B %Y}", show_lines=False
    )
    day.add_column("", style="bold")
    day.add_column("count", justify="right")
    day.add_column("", style="dim")
    day.add_row("customers", f"{len(run.people):,}", f"{run.config.start}-{run.config.end}")
    day.add_row("events posted", f"{tally.events_sent:,}", "through POST /v1/events")
    day.add_row(
        "  accepted",
        f"{tally.results['accepted']:,}",
        ", ".join(f"{k} {v:,}" for k, v in sorted(tally.stored_as.items())),
    )
    day.add_row("  duplicates", f"{tally.results['duplicate']:,}", "resent batches, answered once")
    day.add_row(
        "  rejected",
        f"{tally.results['rejected']:,}",
        ", ".join(f"{k} {v}" for k, v in tally.rejected.items()),
    )
    day.add_row(
        "  flagged",
        f"{sum(tally.flags.values()):,}",
        ", ".join(f"{k} {v}" for k, v in sorted(tally.flags.items())),
    )
    day.add_row("purchases", f"{tally.orders_recorded:,}", "through POST /v1/purchases")
    day.add_row("decisions", f"{total:,}", "")
    for outcome in ("send", "defer", "holdout", "suppress"):
        day.add_row(
            f"  {OUTCOME_WORDS[outcome]}",
            f"{outcomes[outcome]:,}",
            _share(outcomes[outcome], total),
        )
    statuses = results.invite_statuses
    day.add_row("invites", f"{len(results.invites):,}", "written to the outbox")
    day.add_row("  delivered", f"{results.delivered:,}", "receipt from the relay")
    day.add_row("  opened", f"{results.opened:,}", _share(results.opened, results.delivered))
    day.add_row(
        "  cancelled at the last moment",
        f"{statuses['cancelled']:,}",
        "re-checked just before sending",
    )
    day.add_row("  expired", f"{statuses['expired']:,}", "send_by passed")
    day.add_row("held out", f"{results.held_out:,}", "control group: recorded, not sent")
    day.add_row(
        "invariants",
        "held" if invariants.held else "BROKEN",
        f"{len(invariants.sent_while_closed)} sent while closed, {len(invariants.over_cap)} "
        f"over the cap, {len(invariants.sent_to_holdout)} to a held-out customer",
    )
    day.add_row("simulated in", _duration(run.seconds), f"speed {run.config.speed:g}")
    console.print(day)

    reasons = Table(title="Why not: suppressed decisions by reason")
    reasons.add_column("reason")
    reasons.add_column("decisions", justify="right")
    reasons.add_column("share", justify="right")
    suppressed = results.suppression_reasons
    for code, count in suppressed.most_common():
        reasons.add_row(code, f"{count:,}", _share(count, sum(suppressed.values())))
    console.print(reasons)

    if results.checks:
        stories = Table(title="The design's stories, replayed")
        stories.add_column("")
        stories.add_column("story")
        stories.add_column("expected")
        stories.add_column("at")
        for check in results.checks:
            stories.add_row(
                "[green]ok[/green]" if check.met else "[red]MISSING[/red]",
                check.story.title,
                check.expect.code,
                _hhmm(check.at),
            )
        console.print(stories)

    stores = Table(title="Store by store")
    stores.add_column("store")
    stores.add_column("decisions", justify="right")
    stores.add_column("sent", justify="right")
    stores.add_column("delivered", justify="right")
    stores.add_column("held out", justify="right")
    stores.add_column("suppressed", justify="right")
    stores.add_column("top suppression reasons")
    for row in _per_store(results):
        stores.add_row(
            row.store.name,
            str(row.decisions),
            str(row.sent),
            str(row.delivered),
            str(row.held_out),
            str(row.suppressed),
            ", ".join(f"{code} {n}" for code, n in row.top),
        )
    console.print(stores)
    return invariants


# -- HTML --------------------------------------------------------------------------------

_CSS = """
:root { --ink:#1d232b; --muted:#5d6673; --line:#e3e6ea; --open:#e4f3ea; --bg:#fbfbf9; }
* { box-sizing: border-box; }
body { font: 15px/1.5 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: var(--ink); background: var(--bg); margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 32px 28px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 19px; margin: 40px 0 6px; padding-top: 8px; border-top: 1px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 4px; }
p.lede, p.note { color: var(--muted); margin: 4px 0 14px; max-width: 900px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr));
        gap: 12px; margin: 22px 0 8px; }
.kpi { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.kpi b { display: block; font-size: 24px; font-variant-numeric: tabular-nums; }
.kpi span { color: var(--muted); font-size: 13px; }
.ok { color: #1a7f4b; } .bad { color: #c2412d; }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: 14px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line);
         vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase;
     letter-spacing: .04em; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.bar { height: 10px; border-radius: 3px; display: inline-block; vertical-align: middle; }
.stack { display: flex; height: 22px; border-radius: 5px; overflow: hidden; margin: 10px 0; }
.stack div { color: #fff; font-size: 12px; padding: 2px 6px; white-space: nowrap;
             overflow: hidden; }
.badge { display: inline-block; border-radius: 4px; padding: 0 7px; color: #fff;
         font-size: 12px; font-weight: 600; }
.code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
.legend span { margin-right: 16px; color: var(--muted); font-size: 13px; white-space: nowrap; }
.legend i { display: inline-block; width: 11px; height: 11px; border-radius: 50%;
            vertical-align: -1px; margin-right: 5px; }
.timeline { background: #fff; border: 1px solid var(--line); border-radius: 8px;
            padding: 8px 0; overflow-x: auto; }
.story { background: #fff; border: 1px solid var(--line); border-radius: 8px;
         padding: 14px 18px; margin: 14px 0; }
.story ol { list-style: none; padding: 0; margin: 8px 0 0; }
.story li { border-top: 1px solid var(--line); padding: 10px 0; }
.story .when { font-weight: 600; font-variant-numeric: tabular-nums; margin-right: 8px; }
.story .why { margin: 6px 0 0 0; padding-left: 18px; color: var(--ink); }
.story .why li { border: 0; padding: 1px 0; }
.story table { margin-top: 8px; font-size: 13px; }
.msg { background: #f3f6f4; border-left: 3px solid #1a7f4b; padding: 6px 10px; margin: 8px 0;
       font-size: 14px; }
footer { color: var(--muted); font-size: 13px; margin-top: 40px; }
.aside { color: var(--muted); font-size: 13px; margin: 6px 0 0; }
.kpi.wide { grid-column: span 2; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _badge(outcome: str) -> str:
    colour = OUTCOME_COLOURS.get(outcome, "#555")
    words = _e(OUTCOME_WORDS.get(outcome, outcome))
    return f'<span class="badge" style="background:{colour}">{words}</span>'


def _kpis(results: DayResults, invariants: Invariants) -> str:
    tally = results.run.tally
    outcomes = results.outcomes
    total = len(results.decisions)
    cards = [
        (f"{tally.events_sent:,}", "events from the app"),
        (f"{total:,}", "decisions, each with its reasons"),
        (f"{outcomes['send'] + outcomes['defer']:,}", "invites decided"),
        (f"{results.delivered:,}", "delivered to a phone"),
        (f"{results.opened:,}", f"opened ({_share(results.opened, results.delivered)})"),
        (f"{results.held_out:,}", "held out to measure lift"),
        (f"{outcomes['suppress']:,}", f"not sent ({_share(outcomes['suppress'], total)})"),
    ]
    body = "".join(
        f'<div class="kpi"><b>{v}</b><span>{_e(label)}</span></div>' for v, label in cards
    )
    verdict = '<b class="ok">held</b>' if invariants.held else '<b class="bad">broken</b>'
    body += (
        f'<div class="kpi wide">{verdict}<span>invariants: '
        f"{len(invariants.sent_while_closed)} sent while closed, "
        f"{len(invariants.over_cap)} over the cap, "
        f"{len(invariants.sent_to_holdout)} to a held-out customer</span></div>"
    )
    return f'<div class="kpis">{body}</div>'


def _outcome_stack(results: DayResults) -> str:
    outcomes = results.outcomes
    total = max(1, len(results.decisions))
    parts = []
    for outcome in ("send", "defer", "holdout", "suppress"):
        n = outcomes[outcome]
        if not n:
            continue
        width = 100 * n / total
        parts.append(
            f'<div style="width:{width:.2f}%;background:{OUTCOME_COLOURS[outcome]}" '
            f'title="{_e(OUTCOME_WORDS[outcome])}: {n}">{_e(OUTCOME_WORDS[outcome])} {n:,}</div>'
        )
    return f'<div class="stack">{"".join(parts)}</div>'


def _reasons_table(results: DayResults) -> str:
    suppressed = results.suppression_reasons
    whole = max(1, sum(suppressed.values()))
    top = max(suppressed.values(), default=1)
    example: dict[str, str] = {}
    for decision in results.decisions:
        if decision.outcome == "suppress" and decision.reason and decision.reason not in example:
            example[decision.reason] = decision.message
    rows = []
    for code, count in suppressed.most_common():
        _, colour = FAMILIES.get(code, ("other", "#777"))
        rows.append(
            f"<tr><td class='code'>{_e(code)}</td><td class='n'>{count:,}</td>"
            f"<td class='n'>{_share(count, whole)}</td>"
            f"<td><span class='bar' style='width:{160 * count / top:.0f}px;background:{colour}'>"
            f"</span></td><td>{_e(example.get(code, ''))}</td></tr>"
        )
    return (
        "<table><tr><th>reason</th><th class='n'>decisions</th><th class='n'>share</th>"
        f"<th></th><th>for example</th></tr>{''.join(rows)}</table>"
    )


_X0, _WIDTH, _ROW = 230, 900, 38
_DELIVERED = ("delivered", "opened", "dismissed")


def _timeline(results: DayResults) -> str:
    start, end = results.run.started_at, results.run.ended_at
    span = (end - start).total_seconds()

    def x(instant: dt.datetime) -> float:
        return _X0 + _WIDTH * max(0.0, min(1.0, (instant - start).total_seconds() / span))

    by_store: dict[str, list[DecisionRow]] = defaultdict(list)
    for decision in results.decisions:
        if decision.store_id:
            by_store[decision.store_id].append(decision)
    stores = sorted(results.stores, key=lambda s: (s.banner, s.name))
    height = 30 + _ROW * len(stores) + 10
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_X0 + _WIDTH + 20}" '
        f'height="{height}" font-family="-apple-system,Segoe UI,Roboto,Helvetica,Arial,'
        f'sans-serif" font-size="11">'
    ]
    hour = start.astimezone(ZONE).replace(minute=0, second=0, microsecond=0)
    while hour <= end:
        if hour >= start:
            hx = x(hour)
            out.append(
                f'<line x1="{hx:.1f}" y1="22" x2="{hx:.1f}" y2="{height - 8}" stroke="#eef0f2"/>'
            )
            out.append(
                f'<text x="{hx:.1f}" y="14" text-anchor="middle" fill="#5d6673">{hour:%H}</text>'
            )
        hour += dt.timedelta(hours=1)
    for row, store in enumerate(stores):
        top = 26 + row * _ROW
        mid = top + _ROW / 2
        out.append(_store_label(store, top))
        for opens, closes in store.open:
            out.append(
                f'<rect x="{x(opens):.1f}" y="{top + 4}" '
                f'width="{max(1.0, x(closes) - x(opens)):.1f}" '
                f'height="{_ROW - 8}" fill="#e4f3ea" rx="3"><title>open {_hhmm(opens)}&#8211;'
                f"{_hhmm(closes) if closes < end else 'after midnight'}</title></rect>"
            )
        out.append(f'<line x1="{_X0}" y1="{mid}" x2="{_X0 + _WIDTH}" y2="{mid}" stroke="#d5d9de"/>')
        for decision in by_store.get(store.id, []):
            dx = x(decision.decided_at)
            tip = _e(
                f"{_hhmm(decision.decided_at)} {decision.customer_id}: "
                f"{OUTCOME_WORDS.get(decision.outcome, decision.outcome)}"
                f"{' (' + decision.reason + ')' if decision.reason else ''}"
            )
            if decision.outcome == "suppress":
                _, colour = FAMILIES.get(decision.reason or "", ("", "#777"))
                out.append(
                    f'<line x1="{dx:.1f}" y1="{mid + 2}" x2="{dx:.1f}" y2="{mid + 12}" '
                    f'stroke="{colour}" stroke-width="1.6" opacity="0.8">'
                    f"<title>{tip}</title></line>"
                )
            elif decision.outcome == "holdout":
                out.append(
                    f'<circle cx="{dx:.1f}" cy="{mid - 7}" r="4" fill="#fff" '
                    f'stroke="#8a8f98" stroke-width="1.6"><title>{tip}</title></circle>'
                )
            else:
                colour = OUTCOME_COLOURS[decision.outcome]
                invite = results.invites_by_decision.get(decision.id)
                if (
                    invite is not None
                    and invite.sent_at is not None
                    and decision.outcome == "defer"
                ):
                    sx = x(invite.sent_at)
                    out.append(
                        f'<line x1="{dx:.1f}" y1="{mid - 7}" x2="{sx:.1f}" y2="{mid - 7}" '
                        f'stroke="{colour}" stroke-dasharray="2 2"/>'
                    )
                    dx = sx
                filled = invite is not None and invite.status in (
                    "delivered",
                    "opened",
                    "dismissed",
                )
                fill = colour if filled else "#fff"
                out.append(
                    f'<circle cx="{dx:.1f}" cy="{mid - 7}" r="4.5" fill="{fill}" '
                    f'stroke="{colour}" stroke-width="1.6"><title>{tip}'
                    f"{' — ' + invite.status if invite else ''}</title></circle>"
                )
    out.append("</svg>")
    return "".join(out)


def _store_label(store: StoreDay, top: float) -> str:
    hours = store.opening_hours or "hours unknown"
    if len(hours) > 38:
        hours = hours[:36] + "…"
    return (
        f'<text x="8" y="{top + 16}" fill="#1d232b" font-size="12" font-weight="600">'
        f"{_e(store.name.replace('Meridian ', '')[:34])}</text>"
        f'<text x="8" y="{top + 29}" fill="#8a929c" font-size="10">{_e(hours)}</text>'
    )


def _store_table(results: DayResults) -> str:
    rows = []
    for row in _per_store(results):
        top = ", ".join(f"<span class='code'>{_e(c)}</span> {n}" for c, n in row.top)
        rows.append(
            f"<tr><td>{_e(row.store.name)}<br><span class='code' style='color:#8a929c'>"
            f"{_e(row.store.opening_hours or '')}</span></td>"
            f"<td class='n'>{row.decisions}</td><td class='n'>{row.sent}</td>"
            f"<td class='n'>{row.delivered}</td><td class='n'>{row.opened}</td>"
            f"<td class='n'>{row.held_out}</td><td class='n'>{row.suppressed}</td>"
            f"<td>{top}</td></tr>"
        )
    return (
        "<table><tr><th>store</th><th class='n'>decisions</th><th class='n'>sent</th>"
        "<th class='n'>delivered</th><th class='n'>opened</th><th class='n'>held out</th>"
        "<th class='n'>suppressed</th><th>top suppression reasons</th></tr>"
        f"{''.join(rows)}</table>"
    )


_NOT_FOR_THEM = frozenset(
    {"inactive", "segment_mismatch", "moment_mismatch", "category_mismatch",
     "locale_unavailable"}
)  # fmt: skip


def _candidates(decision: dict[str, Any]) -> str:
    """The campaigns weighed: those that were for this customer in a table (offers with their
    score), the others in one line."""
    rows, others = [], []
    decisive = (decision.get("reasons") or [{}])[0].get("code")
    if decisive == "already_inside":
        return ""  # the visit was answered already: nothing new was weighed
    for c in decision.get("candidates") or ():
        lost = c.get("lost_because") or {}
        if not c.get("chosen") and lost.get("code") in _NOT_FOR_THEM:
            others.append(c["campaign_name"])
            continue
        if (
            not c.get("chosen")
            and lost.get("code") == decisive
            and decision["outcome"] == "suppress"
        ):
            continue  # said once above
        score = c.get("score_formula") or ""
        why = "<b>chosen</b>" if c.get("chosen") else _e(lost.get("message", ""))
        rows.append(
            f"<tr><td>{_e(c['campaign_name'])} <span class='code' style='color:#8a929c'>"
            f"{_e(c['kind'])}</span></td><td class='code'>{_e(score)}</td><td>{why}</td></tr>"
        )
    out = ""
    if rows:
        out += (
            "<table><tr><th>campaign</th><th>long-term score (offers)</th><th>outcome</th></tr>"
            f"{''.join(rows)}</table>"
        )
    if others and decision["outcome"] != "suppress":
        out += f"<p class='aside'>Not for this customer: {_e(', '.join(others))}.</p>"
    return out


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two decisions of one visit that read the same (a claimed and a derived enter...)."""
    return (
        a.get("store_id") == b.get("store_id")
        and a["outcome"] == b["outcome"] == "suppress"
        and [r["code"] for r in a["reasons"]] == [r["code"] for r in b["reasons"]]
    )


def _checks_table(results: DayResults) -> str:
    rows = []
    by_story: dict[str, list[Any]] = defaultdict(list)
    for check in results.checks:
        by_story[check.story.key].append(check)
    for checks in by_story.values():
        for n, check in enumerate(checks):
            expect = check.expect
            expected = f"<span class='code'>{_e(expect.code)}</span>"
            if expect.trigger == "purchase":
                expected += "<br><span class='aside'>an order moment</span>"
            elif expect.campaign_id:
                expected += f"<br><span class='aside code'>{_e(expect.campaign_id)}</span>"
            mark = "<b class='ok'>&#10003;</b>" if check.met else "<b class='bad'>&#10007;</b>"
            title = (
                f"<td rowspan='{len(checks)}' style='width:30%'>{_e(check.story.title)}</td>"
                if n == 0
                else ""
            )
            rows.append(
                f"<tr>{title}<td>{mark}</td><td>{expected}</td>"
                f"<td class='n'>{_hhmm(check.at)}</td>"
                f"<td>{_e(_store_name(results, expect.store_id))}</td>"
                f"<td>{_e(check.evidence) or '<i>did not happen</i>'}</td></tr>"
            )
    return (
        "<table><tr><th>story</th><th></th><th>expected</th><th class='n'>at</th>"
        f"<th>store</th><th>what Kairos recorded</th></tr>{''.join(rows)}</table>"
    )


def _store_name(results: DayResults, store_id: str | None) -> str:
    for store in results.stores:
        if store.id == store_id:
            return store.name
    return store_id or ""


def _story(results: DayResults, trail: StoryTrail) -> str:
    person = trail.person
    case = f"; an open {person.cases[0].kind}: {person.cases[0].summary}" if person.cases else ""
    items: list[str] = []
    invites = {str(i.decision_id): i for i in trail.invites}
    runs: list[list[dict[str, Any]]] = []
    # Decided in the same simulated minute: in the order things happened on the phone.
    ordered = sorted(
        trail.decisions,
        key=lambda d: (d["decided_at"], (d.get("event") or {}).get("occurred_at") or ""),
    )
    for decision in ordered:
        if runs and _same(runs[-1][0], decision):
            runs[-1].append(decision)
        else:
            runs.append([decision])
    for run in runs:
        decision = run[0]
        again = (
            f" <span class='aside'>(the same visit reported {len(run)} times: the same "
            "answer)</span>"
            if len(run) > 1
            else ""
        )
        reasons = "".join(
            f"<li><span class='code'>{_e(r['code'])}</span> {_e(r['message'])}</li>"
            for r in decision.get("reasons") or ()
        )
        moments = "".join(
            f"<li>moment <span class='code'>{_e(m['code'])}</span> {_e(m['message'])}</li>"
            for m in decision.get("moments") or ()
        )
        message = ""
        if decision.get("title"):
            message = (
                f"<div class='msg'><b>{_e(decision['title'])}</b><br>"
                f"{_e(decision.get('body') or '')}</div>"
            )
        invite = invites.get(str(decision.get("id")))
        delivery = ""
        if invite is not None:
            delivery = f" · invite {_e(invite.status)}"
            if invite.sent_at:
                delivery += f" at {_hhmm(invite.sent_at)}"
            if invite.cancel_message:
                delivery += f": {_e(invite.cancel_message)}"
        trigger = (decision.get("event") or {}).get("kind", "")
        items.append(
            f"<li><span class='when'>{_hhmm(decision['decided_at'])}</span>"
            f"{_e(_store_name(results, decision.get('store_id')))} · {_e(trigger)} "
            f"{_badge(decision['outcome'])}{delivery}{again}{message}"
            f"<ul class='why'>{reasons}{moments}</ul>{_candidates(decision)}</li>"
        )
    if not items:
        items.append("<li>No decisions for this customer in the simulated window.</li>")
    return (
        f"<div class='story'><h3>{_e(trail.story.title)}</h3>"
        f"<p class='note'>Customer <span class='code'>{_e(person.id)}</span> ({_e(person.locale)})"
        f"; {len(person.orders)} earlier orders{_e(case)}.</p><ol>{''.join(items)}</ol></div>"
    )


def render_html(results: DayResults, invariants: Invariants | None = None) -> str:
    """The whole report as one HTML document (no external resources)."""
    invariants = invariants or check_invariants(results)
    run = results.run
    legend = (
        "<p class='legend'>"
        "<span><i style='background:#e4f3ea;border-radius:2px'></i>open</span>"
        "<span><i style='background:#1a7f4b'></i>invite sent and delivered</span>"
        "<span><i style='border:2px solid #1a7f4b'></i>sent, not (yet) delivered</span>"
        "<span><i style='background:#2f6fb3'></i>deferred to the opening (dashed: the wait)</span>"
        "<span><i style='border:2px solid #8a8f98'></i>held out</span>"
        "<span><i style='background:#c2412d;border-radius:0;width:3px'></i>suppressed: store "
        "timing</span>"
        "<span><i style='background:#d9822b;border-radius:0;width:3px'></i>quiet hours</span>"
        "<span><i style='background:#7b4bb3;border-radius:0;width:3px'></i>service before "
        "sales</span>"
        "<span><i style='background:#b3558a;border-radius:0;width:3px'></i>just bought</span>"
        "<span><i style='background:#a07a1f;border-radius:0;width:3px'></i>caps and "
        "cooldowns</span>"
        "<span><i style='background:#5b6470;border-radius:0;width:3px'></i>doubtful "
        "location</span>"
        "<span><i style='background:#9aa3ad;border-radius:0;width:3px'></i>nothing "
        "suitable</span></p>"
    )
    stories = "".join(_story(results, t) for t in results.stories)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kairos — a simulated day at Meridian, {run.config.day:%d %B %Y}</title>
<style>{_CSS}</style></head>
<body><main>
<h1>A day of timely invites at Meridian, London</h1>
<p class="lede">{run.config.day:%A %d %B %Y},
{_e(run.config.start)}&#8211;{_e(run.config.end)} London time: {len(run.people):,}
loyalty-app customers walk between home, the high street and work past
{len(results.stores)} Meridian stores. Their phones report what they see through the
Kairos API; the tills report what they buy. Kairos decides, for every store visit,
whether an invite is timely, and records why when it is not.</p>
{_kpis(results, invariants)}

<h2>The design's stories, replayed</h2>
<p class="note">Some customers' histories are written so that each acceptance story of the
design happens during the day. Kairos decides on store visits; the till's orders are
recorded without a decision (the order moments are read from the customer's context as of
the order).</p>
{_checks_table(results)}

<h2>What Kairos decided</h2>
<p class="note">Every enter, dwell and check-in is a decision. Most are a “not now”, and each
one carries a stable reason code and a sentence a store manager can read.</p>
{_outcome_stack(results)}
{_reasons_table(results)}

<h2>Store by store, across the day</h2>
<p class="note">Each row is a store; the shaded band is when it is open (its own
OpenStreetMap hours, London time, bank holidays included). Dots above the line are invites,
ticks below are the visits that did not get one, coloured by reason. Hover for the
customer and the reason.</p>
{legend}
<div class="timeline">{_timeline(results)}</div>
<h3>Totals per store</h3>
{_store_table(results)}

<h2>Three customers' days</h2>
<p class="note">Every decision Kairos made for them, in order, with its reasons, the
campaigns it weighed (offers with their long-term score) and what happened to the invite.</p>
{stories}

<footer>Simulated with <span class="code">kairos simulate --day {run.config.day.isoformat()}
--speed {run.config.speed:g} --customers {len(run.people)}</span> in {_duration(run.seconds)}.
The server ran on a simulation clock set through <span class="code">PUT /v1/dev/clock</span>
(development only); the policy was not patched. Decisions were read through
<span class="code">GET /v1/decisions</span>, invite statuses from the outbox table.
{invariants.invites_sent:,} invites were handed to the push relay.</footer>
</main></body></html>
"""
