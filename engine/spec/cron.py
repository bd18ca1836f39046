"""`kind: CronWorkflow`: its fields, checked, and its schedule as times (pure: no clock, no I/O).

    cron = read_cron(text, source="cron.yaml")      # SpecError (exit 2) for a bad field
    cron.due(after=last, until=now)                 # scheduled times in (last, now], ascending
    cron.workflow_data(scheduled)                   # the Workflow this tick runs, as plain data

Schedules are what Argo (robfig/cron's ParseStandard) accepts: five fields, the `@yearly`,
`@monthly`, `@weekly`, `@daily`, `@hourly` descriptors, a `CRON_TZ=Zone ` prefix, and
`@every <duration>` (times `after + k*duration`, whole seconds). Parsed by croniter, not by us.
`timezone` (an IANA name) applies to every schedule without its own `CRON_TZ=`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

import msgspec
from croniter import croniter  # type: ignore[import-untyped,unused-ignore]

from engine.errors import SpecError
from engine.spec.loader import read_object
from engine.spec.model import API_VERSION, KIND
from engine.spec.util import parse_duration

__all__ = [
    "ALLOW",
    "CONCURRENCY_POLICIES",
    "CRON_KIND",
    "CRON_LABEL",
    "FORBID",
    "REPLACE",
    "SCHEDULED_TIME_ANNOTATION",
    "CronSpec",
    "read_cron",
]

CRON_KIND = "CronWorkflow"
ALLOW, FORBID, REPLACE = "Allow", "Forbid", "Replace"
CONCURRENCY_POLICIES = (ALLOW, FORBID, REPLACE)
#: Argo's label and annotation on a workflow started by a CronWorkflow.
CRON_LABEL = "workflows.argoproj.io/cron-workflow"
SCHEDULED_TIME_ANNOTATION = "workflows.argoproj.io/scheduled-time"

_FIELDS = {
    "schedule", "schedules", "timezone", "concurrencyPolicy", "startingDeadlineSeconds",
    "successfulJobsHistoryLimit", "failedJobsHistoryLimit", "suspend", "workflowSpec",
    "workflowMetadata", "stopStrategy", "when",
}  # fmt: skip
_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_TZ_PREFIX = re.compile(r"^(?:CRON_TZ|TZ)=(\S+)\s+(.*)$")


class Schedule(msgspec.Struct, frozen=True):
    """One schedule: a cron expression in a zone, or `@every` seconds."""

    text: str
    expression: str | None
    zone: str
    every: float | None

    def due(self, after: float, until: float) -> list[float]:
        """Scheduled times t with after < t <= until, ascending."""
        if self.every is not None:
            first = math.floor(after / self.every) * self.every + self.every
            if first > until:
                return []
            return [first + k * self.every for k in range(int((until - first) // self.every) + 1)]
        assert self.expression is not None
        start = dt.datetime.fromtimestamp(after, zoneinfo.ZoneInfo(self.zone))
        it = croniter(self.expression, start)
        out: list[float] = []
        while True:
            t = float(it.get_next(float))
            if t > until:
                return out
            out.append(t)

    def next_after(self, after: float) -> float:
        if self.every is not None:
            return math.floor(after / self.every) * self.every + self.every
        assert self.expression is not None
        start = dt.datetime.fromtimestamp(after, zoneinfo.ZoneInfo(self.zone))
        return float(croniter(self.expression, start).get_next(float))


class CronSpec(msgspec.Struct, frozen=True):
    name: str
    schedules: tuple[Schedule, ...]
    concurrency_policy: str
    starting_deadline: float | None
    successful_history: int
    failed_history: int
    suspend: bool
    #: The CronWorkflow as read (plain data): its workflowSpec and workflowMetadata.
    data: Mapping[str, Any]

    def due(self, after: float, until: float) -> list[float]:
        """Every scheduled time of every schedule in (after, until], ascending, no duplicates."""
        return sorted({t for s in self.schedules for t in s.due(after, until)})

    def next_after(self, after: float) -> float:
        return min(s.next_after(after) for s in self.schedules)

    def workflow_name(self, scheduled: float) -> str:
        """Argo's child name: `<cron>-<unix seconds>`."""
        return f"{self.name}-{int(scheduled)}"

    def workflow_data(self, scheduled: float) -> dict[str, Any]:
        """The Workflow a tick runs (Argo's ConvertCronWorkflowToWorkflow)."""
        spec = self.data.get("spec") or {}
        meta = spec.get("workflowMetadata") or {}
        labels = {**(meta.get("labels") or {}), CRON_LABEL: self.name}
        when = dt.datetime.fromtimestamp(scheduled, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        annotations = {**(meta.get("annotations") or {}), SCHEDULED_TIME_ANNOTATION: when}
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "name": self.workflow_name(scheduled),
                "labels": labels,
                "annotations": annotations,
            },
            "spec": msgspec.convert(spec.get("workflowSpec") or {}, dict[str, Any]),
        }


def read_cron(text: str, *, source: str) -> CronSpec:
    """Parse and check a CronWorkflow (SpecError naming the field and its line)."""
    data, locate = read_object(text, source=source, kinds=(CRON_KIND,))

    def error(message: str, path: str) -> SpecError:
        return SpecError(message, path=path, line=locate(path), source=source)

    if data.get("apiVersion") != API_VERSION:
        raise error(f"apiVersion must be {API_VERSION!r}, got {data.get('apiVersion')!r}",
                    "$.apiVersion")  # fmt: skip
    meta = data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name):
        raise error("a CronWorkflow needs metadata.name (lower case letters, digits, '-', '.')",
                    "$.metadata")  # fmt: skip
    if len(name) > 52:
        raise error(f"metadata.name {name!r} is longer than 52 characters", "$.metadata.name")
    spec = data.get("spec")
    if not isinstance(spec, dict):
        raise error("a CronWorkflow needs a spec", "$.spec")
    for key in spec:
        if key not in _FIELDS:
            raise error(f"unknown field {key!r}", f"$.spec.{key}")
    for key in ("stopStrategy", "when"):
        if key in spec:
            raise error(f"{key} is not supported by Exitflow", f"$.spec.{key}")
    if not isinstance(spec.get("workflowSpec"), dict):
        raise error("a CronWorkflow needs spec.workflowSpec", "$.spec.workflowSpec")

    zone = spec.get("timezone") or "UTC"
    if not isinstance(zone, str) or not _zone_ok(zone):
        raise error(f"timezone {zone!r} is not an IANA time zone", "$.spec.timezone")
    texts: list[tuple[str, str]] = []
    if spec.get("schedule") not in (None, ""):
        texts.append((spec["schedule"], "$.spec.schedule"))
    schedules_field = spec.get("schedules")
    if schedules_field is not None:
        if not isinstance(schedules_field, list):
            raise error("schedules must be a list of strings", "$.spec.schedules")
        texts.extend((s, f"$.spec.schedules[{i}]") for i, s in enumerate(schedules_field))
    if not texts:
        raise error("a CronWorkflow needs spec.schedule or spec.schedules", "$.spec")
    if spec.get("schedule") not in (None, "") and schedules_field:
        raise error("set spec.schedule or spec.schedules, not both", "$.spec.schedules")
    schedules = tuple(_schedule(t, zone, path, error) for t, path in texts)

    policy = spec.get("concurrencyPolicy") or ALLOW
    if policy not in CONCURRENCY_POLICIES:
        raise error(f"concurrencyPolicy {policy!r} is not one of {', '.join(CONCURRENCY_POLICIES)}",
                    "$.spec.concurrencyPolicy")  # fmt: skip
    deadline = _count(spec, "startingDeadlineSeconds", None, error)
    suspend = spec.get("suspend", False)
    if not isinstance(suspend, bool):
        raise error("suspend must be true or false", "$.spec.suspend")
    return CronSpec(
        name=name,
        schedules=schedules,
        concurrency_policy=policy,
        starting_deadline=None if deadline is None else float(deadline),
        successful_history=_count(spec, "successfulJobsHistoryLimit", 3, error) or 0,
        failed_history=_count(spec, "failedJobsHistoryLimit", 1, error) or 0,
        suspend=suspend,
        data=data,
    )


def _zone_ok(zone: str) -> bool:
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _count(spec: Mapping[str, Any], key: str, default: int | None, error: Any) -> int | None:
    value = spec.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise error(f"{key} must be a whole number >= 0, got {value!r}", f"$.spec.{key}")
    return value


def _schedule(text: Any, zone: str, path: str, error: Any) -> Schedule:
    if not isinstance(text, str) or not text.strip():
        raise error("a schedule must be a non-empty string", path)
    expression = text.strip()
    m = _TZ_PREFIX.match(expression)
    if m is not None:
        zone, expression = m.group(1), m.group(2).strip()
        if not _zone_ok(zone):
            raise error(f"schedule {text!r}: {zone!r} is not an IANA time zone", path)
    if expression.startswith("@every"):
        try:
            seconds = parse_duration(expression[len("@every") :].strip())
        except (SpecError, ValueError):
            seconds = 0
        if seconds < 1:
            raise error(f"schedule {text!r}: @every needs a duration of 1s or more", path)
        return Schedule(text=text, expression=None, zone=zone, every=float(round(seconds)))
    fields = expression.split()
    if expression not in _DESCRIPTORS and (len(fields) != 5 or not croniter.is_valid(expression)):
        raise error(
            f"schedule {text!r} does not parse: use five fields (minute hour day month weekday),"
            " an @hourly-style descriptor or @every <duration>",
            path,
        )
    return Schedule(text=text, expression=expression, zone=zone, every=None)
