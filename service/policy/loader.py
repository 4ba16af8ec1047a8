"""Read and validate the policy file, reporting every error with its key path."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .durations import parse_duration
from .model import (
    CHANNELS,
    CONDITIONS,
    WEEKDAYS,
    BusinessHours,
    ChainStep,
    Contact,
    Escalation,
    OnCall,
    Policy,
    Role,
    Severity,
)

_TOP_KEYS = {"timezone", "business_hours", "severities", "roles", "contacts", "escalations", "alerts",
             "responsibilities", "oncall"}
_RESPONSIBILITY_KEYS = {"commander", "communicator", "handoff_severities", "war_room_severities"}
_ONCALL_KEYS = {"notify_before", "gap_horizon", "gap_contacts"}
DEFAULT_GAP_CONTACTS = ("engineering_manager",)
MAX_NOTIFY_BEFORE = timedelta(days=14)
MAX_GAP_HORIZON = timedelta(days=90)
_SEVERITY_KEYS = {
    "name", "description", "examples", "respond_within", "acknowledge_within", "assemble_within",
    "update_every", "page", "notify", "stakeholders", "channels", "postmortem_within", "business_hours_only",
}
_ROLE_KEYS = {"title", "rotation", "responsibilities"}
_CONTACT_KEYS = {"title", "email", "teams_webhook", "rotation"}
_ESCALATION_KEYS = {"name", "severities", "condition", "after", "notify", "threshold", "acknowledge_within", "then"}
_STEP_KEYS = {"notify", "acknowledge_within"}
_BUSINESS_KEYS = {"days", "start", "end", "holidays"}
_PRIORITIES = ("P1", "P2", "P3", "P4")


class PolicyError(Exception):
    """The policy file is invalid; `errors` lists every problem as (key path, message)."""

    def __init__(self, errors: list[tuple[str, str]], source: str = ""):
        self.errors = errors
        self.source = source
        super().__init__("\n".join(f"{path}: {msg}" for path, msg in errors))


@dataclass
class _Collector:
    errors: list[tuple[str, str]]

    def add(self, path: str, message: str) -> None:
        self.errors.append((path, message))

    def unknown_keys(self, path: str, table: dict, allowed: set[str]) -> None:
        for key in sorted(set(table) - allowed):
            self.add(f"{path}.{key}" if path else key, "unknown key")

    def table(self, path: str, value: Any) -> dict:
        if not isinstance(value, dict):
            self.add(path, "must be a table")
            return {}
        return value

    def string(self, path: str, value: Any, default: str | None = None) -> str | None:
        if value is None:
            return default
        if not isinstance(value, str):
            self.add(path, "must be a string")
            return default
        return value

    def strings(self, path: str, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.add(path, "must be a list of strings")
            return ()
        return tuple(value)

    def duration(self, path: str, value: Any) -> timedelta | None:
        if value is None:
            return None
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.add(path, str(exc))
            return None


def load_policy(path: str | Path) -> Policy:
    """Load and validate a policy file; raise PolicyError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError([("", f"cannot read {path}: {exc.strerror}")], str(path)) from exc
    return parse_policy(text, source=str(path))


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError([("", f"not valid TOML: {exc}")], source) from exc
    c = _Collector([])
    c.unknown_keys("", raw, _TOP_KEYS)

    tz = ZoneInfo("UTC")
    tz_name = c.string("timezone", raw.get("timezone"), "UTC")
    try:
        tz = ZoneInfo(tz_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        c.add("timezone", f"unknown time zone {tz_name!r}")

    business = _business_hours(c, raw.get("business_hours", {}))
    roles = _roles(c, c.table("roles", raw.get("roles", {})))
    contacts = _contacts(c, c.table("contacts", raw.get("contacts", {})))
    severities = _severities(c, c.table("severities", raw.get("severities", {})), roles, contacts)
    escalations = _escalations(c, raw.get("escalations", []), severities, contacts)
    severity_map = _alerts(c, c.table("alerts", raw.get("alerts", {})), severities)
    commander, communicator, handoff = _responsibilities(c, c.table("responsibilities", raw.get("responsibilities", {})),
                                                         roles, severities)
    rooms = _severity_list(c, c.table("responsibilities", raw.get("responsibilities", {})), "war_room_severities",
                           severities)
    oncall = _oncall(c, c.table("oncall", raw.get("oncall", {})), roles, contacts)

    if not severities:
        c.add("severities", "at least one severity is required")
    if c.errors:
        raise PolicyError(c.errors, source)
    return Policy(
        timezone=tz,
        business_hours=business,
        severities=severities,
        roles=roles,
        contacts=contacts,
        escalations=escalations,
        severity_map=severity_map,
        commander_role=commander,
        communicator_role=communicator,
        handoff_severities=handoff,
        war_room_severities=rooms,
        oncall=oncall,
        source=source,
    )


def _clock_time(c: _Collector, path: str, value: Any, default: time) -> time:
    if value is None:
        return default
    try:
        hours, minutes = str(value).split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        c.add(path, f"must be HH:MM, got {value!r}")
        return default


def _business_hours(c: _Collector, raw: Any) -> BusinessHours:
    raw = c.table("business_hours", raw)
    c.unknown_keys("business_hours", raw, _BUSINESS_KEYS)
    days = []
    for i, day in enumerate(c.strings("business_hours.days", raw.get("days", list(WEEKDAYS[:5])))):
        if day[:3].title() in WEEKDAYS:
            days.append(WEEKDAYS.index(day[:3].title()))
        else:
            c.add(f"business_hours.days[{i}]", f"unknown day {day!r} (use Mon..Sun)")
    start = _clock_time(c, "business_hours.start", raw.get("start"), time(9))
    end = _clock_time(c, "business_hours.end", raw.get("end"), time(17))
    if end <= start:
        c.add("business_hours.end", "must be after start")
    return BusinessHours(tuple(sorted(set(days))), start, end, c.string("business_hours.holidays", raw.get("holidays")))


def _roles(c: _Collector, raw: dict) -> dict[str, Role]:
    roles = {}
    for key, value in raw.items():
        path = f"roles.{key}"
        table = c.table(path, value)
        c.unknown_keys(path, table, _ROLE_KEYS)
        roles[key] = Role(
            key=key,
            title=c.string(f"{path}.title", table.get("title"), key.replace("_", " ").title()),
            rotation=c.string(f"{path}.rotation", table.get("rotation")),
            responsibilities=c.string(f"{path}.responsibilities", table.get("responsibilities"), ""),
        )
    return roles


def _contacts(c: _Collector, raw: dict) -> dict[str, Contact]:
    contacts = {}
    for key, value in raw.items():
        path = f"contacts.{key}"
        table = c.table(path, value)
        c.unknown_keys(path, table, _CONTACT_KEYS)
        emails = c.strings(f"{path}.email", table.get("email"))
        for i, address in enumerate(emails):
            if "@" not in address:
                c.add(f"{path}.email[{i}]", f"not an email address: {address!r}")
        contact = Contact(
            key=key,
            title=c.string(f"{path}.title", table.get("title"), key.replace("_", " ").title()),
            email=emails,
            teams_webhook=c.string(f"{path}.teams_webhook", table.get("teams_webhook")),
            rotation=c.string(f"{path}.rotation", table.get("rotation")),
        )
        if not (contact.email or contact.teams_webhook or contact.rotation):
            c.add(path, "needs at least one of email, teams_webhook, rotation")
        contacts[key] = contact
    return contacts


def _severities(c: _Collector, raw: dict, roles: dict, contacts: dict) -> dict[str, Severity]:
    severities = {}
    for key, value in raw.items():
        path = f"severities.{key}"
        if key not in _PRIORITIES:
            c.add(path, f"unknown severity {key!r} (use {', '.join(_PRIORITIES)})")
        table = c.table(path, value)
        c.unknown_keys(path, table, _SEVERITY_KEYS)
        respond_raw = table.get("respond_within")
        next_business_day = respond_raw == "next_business_day"
        respond = None if next_business_day else c.duration(f"{path}.respond_within", respond_raw)
        page = c.strings(f"{path}.page", table.get("page"))
        notify = c.strings(f"{path}.notify", table.get("notify"))
        for field_name, names in (("page", page), ("notify", notify)):
            for i, name in enumerate(names):
                if name not in roles:
                    c.add(f"{path}.{field_name}[{i}]", f"unknown role {name!r}")
        stakeholders = c.strings(f"{path}.stakeholders", table.get("stakeholders"))
        for i, name in enumerate(stakeholders):
            if name not in contacts:
                c.add(f"{path}.stakeholders[{i}]", f"unknown contact {name!r}")
        channels = c.strings(f"{path}.channels", table.get("channels", ["email"]))
        for i, name in enumerate(channels):
            if name not in CHANNELS:
                c.add(f"{path}.channels[{i}]", f"unknown channel {name!r} (use {', '.join(CHANNELS)})")
        bho = table.get("business_hours_only", False)
        if not isinstance(bho, bool):
            c.add(f"{path}.business_hours_only", "must be true or false")
            bho = False
        severities[key] = Severity(
            key=key,
            name=c.string(f"{path}.name", table.get("name"), key) or key,
            description=c.string(f"{path}.description", table.get("description"), "") or "",
            respond_within=respond,
            respond_next_business_day=next_business_day,
            acknowledge_within=c.duration(f"{path}.acknowledge_within", table.get("acknowledge_within")),
            assemble_within=c.duration(f"{path}.assemble_within", table.get("assemble_within")),
            update_every=c.duration(f"{path}.update_every", table.get("update_every")),
            page=page,
            notify=notify,
            stakeholders=stakeholders,
            channels=channels,
            postmortem_within=c.duration(f"{path}.postmortem_within", table.get("postmortem_within")),
            business_hours_only=bho,
            examples=c.strings(f"{path}.examples", table.get("examples")),
        )
    return dict(sorted(severities.items()))


def _escalations(c: _Collector, raw: Any, severities: dict, contacts: dict) -> tuple[Escalation, ...]:
    if not isinstance(raw, list):
        c.add("escalations", "must be an array of tables ([[escalations]])")
        return ()
    rules = []
    for i, value in enumerate(raw):
        path = f"escalations[{i}]"
        table = c.table(path, value)
        c.unknown_keys(path, table, _ESCALATION_KEYS)
        condition = c.string(f"{path}.condition", table.get("condition"))
        if condition is None:
            c.add(f"{path}.condition", "is required")
        elif condition not in CONDITIONS:
            c.add(f"{path}.condition", f"unknown condition {condition!r} (use {', '.join(CONDITIONS)})")
        sevs = c.strings(f"{path}.severities", table.get("severities", list(severities)))
        for j, sev in enumerate(sevs):
            if sev not in severities:
                c.add(f"{path}.severities[{j}]", f"unknown severity {sev!r}")
        notify = c.strings(f"{path}.notify", table.get("notify"))
        if not notify:
            c.add(f"{path}.notify", "names no contact")
        for j, name in enumerate(notify):
            if name not in contacts:
                c.add(f"{path}.notify[{j}]", f"unknown contact {name!r}")
        threshold = table.get("threshold")
        if condition == "financial_impact_over":
            if threshold is None:
                c.add(f"{path}.threshold", "is required for financial_impact_over")
            elif isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
                c.add(f"{path}.threshold", "must be a number")
                threshold = None
        elif threshold is not None:
            c.add(f"{path}.threshold", "only applies to financial_impact_over")
        after = c.duration(f"{path}.after", table.get("after")) if "after" in table else timedelta(0)
        if condition in ("not_acknowledged", "not_mitigated") and "after" not in table:
            c.add(f"{path}.after", f"is required for {condition}")
        within = c.duration(f"{path}.acknowledge_within", table.get("acknowledge_within"))
        then = _chain(c, path, table.get("then", []), contacts)
        rule = Escalation(
            name=c.string(f"{path}.name", table.get("name"), condition or f"escalation {i}") or "",
            severities=sevs,
            condition=condition or "",
            notify=notify,
            after=after or timedelta(0),
            threshold=float(threshold) if isinstance(threshold, (int, float)) else None,
            acknowledge_within=within,
            then=then,
        )
        if rule.name in {r.name for r in rules}:
            c.add(f"{path}.name", f"another escalation is called {rule.name!r} (each rule fires once by its name)")
        _check_chain(c, path, rule, contacts)
        rules.append(rule)
    return tuple(rules)


def _chain(c: _Collector, path: str, raw: Any, contacts: dict) -> tuple[ChainStep, ...]:
    """`then`: the further steps of an escalation, each `{notify = [contacts], acknowledge_within?}`."""
    if not isinstance(raw, list):
        c.add(f"{path}.then", "must be an array of tables ({notify = [...], acknowledge_within = ...})")
        return ()
    steps = []
    for k, value in enumerate(raw):
        where = f"{path}.then[{k}]"
        table = c.table(where, value)
        c.unknown_keys(where, table, _STEP_KEYS)
        notify = c.strings(f"{where}.notify", table.get("notify"))
        if not notify:
            c.add(f"{where}.notify", "names no contact")
        for j, name in enumerate(notify):
            if name not in contacts:
                c.add(f"{where}.notify[{j}]", f"unknown contact {name!r}")
        steps.append(ChainStep(notify=notify,
                               acknowledge_within=c.duration(f"{where}.acknowledge_within",
                                                               table.get("acknowledge_within"))))
    return tuple(steps)


def _reached_as(contact) -> set[tuple[str, str]]:
    """Everything that identifies whom a contact reaches: its key, its addresses, webhook and rotation."""
    found = {("contact", contact.key)} | {("email", address.lower()) for address in contact.email}
    if contact.teams_webhook:
        found.add(("teams", contact.teams_webhook))
    if contact.rotation:
        found.add(("rotation", contact.rotation))
    return found


def _check_chain(c: _Collector, path: str, rule: Escalation, contacts: dict) -> None:
    """A chain only moves on: each step needs a time to wait before the next, and no step may reach again
    whom an earlier step reached (the same contact, address, webhook or rotation): that would loop."""
    if not rule.then:
        return
    reached: dict[tuple[str, str], int] = {}
    for step in range(rule.last_step + 1):
        where = path if step == 0 else f"{path}.then[{step - 1}]"
        already = any(path_ == f"{where}.acknowledge_within" for path_, _ in c.errors)  # given, but invalid
        if step < rule.last_step and rule.wait(step) is None and not already:
            c.add(f"{where}.acknowledge_within",
                  "is required: how long step %d's contacts have before the next step is notified" % step)
        here: set[tuple[str, str]] = set()
        for j, key in enumerate(rule.contacts(step)):
            if key not in contacts:
                continue
            again = sorted(reached[x] for x in _reached_as(contacts[key]) if x in reached)
            if again:
                c.add(f"{where}.notify[{j}]", f"loops: {key!r} reaches whom step {again[0]} of this chain "
                                              "already notified (a chain only moves on to new contacts)")
            here |= _reached_as(contacts[key])
        for x in here:
            reached.setdefault(x, step)


def _alerts(c: _Collector, raw: dict, severities: dict) -> dict[str, str]:
    c.unknown_keys("alerts", raw, {"severity_map"})
    table = c.table("alerts.severity_map", raw.get("severity_map", {}))
    mapping = {}
    for label, level in table.items():
        if level not in severities:
            c.add(f"alerts.severity_map.{label}", f"unknown severity {level!r}")
        else:
            mapping[label.lower()] = level
    return mapping


def _responsibilities(c: _Collector, raw: dict, roles: dict, severities: dict) -> tuple[str, str, tuple[str, ...]]:
    """Which role commands, which communicates, which severities follow rotation handoffs.

    Every name must resolve. The defaults (the guide's role keys) must too as soon as the policy has
    roles: a renamed role would otherwise silently turn IC notices and update reminders off.
    """
    c.unknown_keys("responsibilities", raw, _RESPONSIBILITY_KEYS)
    picked = []
    for key, default in (("commander", "incident_commander"), ("communicator", "communications_lead")):
        role = c.string(f"responsibilities.{key}", raw.get(key), default) or default
        if role not in roles and (key in raw or roles):
            hint = "" if key in raw else f" (the default; name the {key}'s role in [responsibilities] {key} = ...)"
            c.add(f"responsibilities.{key}", f"unknown role {role!r}{hint}")
        picked.append(role)
    if "handoff_severities" in raw:
        handoff = c.strings("responsibilities.handoff_severities", raw["handoff_severities"])
        for i, key in enumerate(handoff):
            if key not in severities:
                c.add(f"responsibilities.handoff_severities[{i}]", f"unknown severity {key!r}")
    else:
        handoff = tuple(key for key in ("P1", "P2") if key in severities)
    return picked[0], picked[1], handoff


def _severity_list(c: _Collector, raw: dict, key: str, severities: dict) -> tuple[str, ...]:
    """[responsibilities] `key`: severity keys that must all exist (default P1 and P2 where defined)."""
    if key not in raw:
        return tuple(k for k in ("P1", "P2") if k in severities)
    picked = c.strings(f"responsibilities.{key}", raw[key])
    for i, name in enumerate(picked):
        if name not in severities:
            c.add(f"responsibilities.{key}[{i}]", f"unknown severity {name!r}")
    return picked


def unresolved_rotations(policy: Policy, known: set[str]) -> list[tuple[str, str]]:
    """[(key, problem)] for every rotation a role or contact names that is not in `known`."""
    named = [(f"roles.{r.key}.rotation", r.rotation) for r in policy.roles.values() if r.rotation]
    named += [(f"contacts.{c.key}.rotation", c.rotation) for c in policy.contacts.values() if c.rotation]
    return [(key, f"unknown rotation {name!r}: not in the database and no calendar {name}.ics beside the policy")
            for key, name in named if name not in known]


def _oncall(c: _Collector, raw: dict, roles: dict, contacts: dict) -> OnCall:
    c.unknown_keys("oncall", raw, _ONCALL_KEYS)
    defaults = OnCall()
    values = {}
    for key, limit in (("notify_before", MAX_NOTIFY_BEFORE), ("gap_horizon", MAX_GAP_HORIZON)):
        value = c.duration(f"oncall.{key}", raw.get(key))
        if value is not None and value > limit:
            c.add(f"oncall.{key}", f"at most {limit.days} days")
        values[key] = value or getattr(defaults, key)
    if "gap_contacts" in raw:
        names = c.strings("oncall.gap_contacts", raw["gap_contacts"])
        for i, name in enumerate(names):
            if name not in contacts and name not in roles:
                c.add(f"oncall.gap_contacts[{i}]", f"unknown contact or role {name!r}")
    else:  # the default only where the policy has that contact
        names = tuple(name for name in DEFAULT_GAP_CONTACTS if name in contacts)
    return OnCall(notify_before=values["notify_before"], gap_horizon=values["gap_horizon"], gap_contacts=names)
