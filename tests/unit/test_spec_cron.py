"""`kind: CronWorkflow`: fields checked with one-line errors; schedules (croniter) as times."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from engine.errors import SpecError
from engine.spec.cron import CRON_LABEL, SCHEDULED_TIME_ANNOTATION, read_cron

BASE = """\
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata:
  name: nightly
spec:
{spec}  workflowSpec:
    entrypoint: main
    templates:
    - name: main
      container: {{image: alpine, command: [echo, hi]}}
"""


def cron(spec: str) -> str:
    return BASE.format(spec=spec)


def ts(text: str, zone: str = "UTC") -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=zoneinfo.ZoneInfo(zone)).timestamp()


def test_defaults_and_fields() -> None:
    c = read_cron(cron('  schedule: "0 2 * * *"\n'), source="c.yaml")
    assert c.name == "nightly"
    assert c.concurrency_policy == "Allow"
    assert c.starting_deadline is None
    assert (c.successful_history, c.failed_history) == (3, 1)
    assert c.suspend is False
    full = read_cron(
        cron(
            "  schedules: ['0 2 * * *', '30 14 * * 1-5']\n  timezone: Europe/Paris\n"
            "  concurrencyPolicy: Forbid\n  startingDeadlineSeconds: 90\n"
            "  successfulJobsHistoryLimit: 0\n  failedJobsHistoryLimit: 5\n  suspend: true\n"
        ),
        source="c.yaml",
    )
    assert [s.text for s in full.schedules] == ["0 2 * * *", "30 14 * * 1-5"]
    assert full.schedules[0].zone == "Europe/Paris"
    assert (full.concurrency_policy, full.starting_deadline) == ("Forbid", 90.0)
    assert (full.successful_history, full.failed_history, full.suspend) == (0, 5, True)


def test_due_times_in_a_time_zone_across_daylight_saving() -> None:
    c = read_cron(cron('  schedule: "30 2 * * *"\n  timezone: America/New_York\n'), source="c")
    # 2026-03-08: clocks jump from 02:00 to 03:00 in New York; croniter runs 02:30 at 03:00.
    due = c.due(
        ts("2026-03-06T12:00", "America/New_York"), ts("2026-03-09T12:00", "America/New_York")
    )
    zone = zoneinfo.ZoneInfo("America/New_York")
    local = [dt.datetime.fromtimestamp(t, zone).strftime("%m-%d %H:%M") for t in due]
    assert local == ["03-07 02:30", "03-08 03:00", "03-09 02:30"]


def test_due_is_half_open_and_merges_schedules() -> None:
    c = read_cron(cron("  schedules: ['0 * * * *', '0 */2 * * *', '@hourly']\n"), source="c")
    start = ts("2026-01-01T00:00")
    due = c.due(start, start + 3 * 3600)
    assert due == [start + 3600, start + 7200, start + 3 * 3600]  # (after, until], no duplicate
    assert c.next_after(start + 3 * 3600) == start + 4 * 3600


def test_every_is_aligned_and_cron_tz_prefix() -> None:
    c = read_cron(cron('  schedule: "@every 5s"\n'), source="c")
    assert c.due(100.0, 116.0) == [105.0, 110.0, 115.0]
    assert c.due(101.5, 104.9) == []
    assert c.next_after(101.5) == 105.0
    tz = read_cron(cron('  schedule: "CRON_TZ=Asia/Tokyo 0 9 * * *"\n'), source="c")
    day = ts("2026-05-01T00:00", "Asia/Tokyo")
    assert tz.due(day, day + 86400) == [day + 9 * 3600]


def test_workflow_data_is_argos_child() -> None:
    c = read_cron(
        cron('  schedule: "@hourly"\n  workflowMetadata:\n    labels: {team: a}\n'), source="c"
    )
    data = c.workflow_data(1_800_000_000.0)
    assert data["kind"] == "Workflow"
    assert data["metadata"]["name"] == "nightly-1800000000"
    assert data["metadata"]["labels"] == {"team": "a", CRON_LABEL: "nightly"}
    assert data["metadata"]["annotations"] == {SCHEDULED_TIME_ANNOTATION: "2027-01-15T08:00:00Z"}
    assert data["spec"]["entrypoint"] == "main"


BAD = {
    "unparsable": ('  schedule: "61 * * * *"\n', "$.spec.schedule", "does not parse"),
    "six-fields": ('  schedule: "* * * * * *"\n', "$.spec.schedule", "does not parse"),
    "garbage": ('  schedule: "every day"\n', "$.spec.schedule", "does not parse"),
    "every-bad": ('  schedule: "@every soon"\n', "$.spec.schedule", "@every needs"),
    "no-schedule": ("  timezone: UTC\n", "$.spec", "needs spec.schedule"),
    "both": ("  schedule: '@hourly'\n  schedules: ['@daily']\n", "$.spec.schedules", "not both"),
    "schedules-item": ("  schedules: ['@daily', 'x y']\n", "$.spec.schedules[1]", "does not parse"),
    "timezone": ("  schedule: '@daily'\n  timezone: Mars/Olympus\n", "$.spec.timezone", "IANA"),
    "cron-tz": ("  schedule: 'CRON_TZ=Nowhere 0 1 * * *'\n", "$.spec.schedule", "IANA"),
    "policy": (
        "  schedule: '@daily'\n  concurrencyPolicy: Sometimes\n",
        "concurrencyPolicy",
        "one of",
    ),
    "deadline": (
        "  schedule: '@daily'\n  startingDeadlineSeconds: -1\n",
        "startingDeadline",
        ">= 0",
    ),
    "history": (
        "  schedule: '@daily'\n  failedJobsHistoryLimit: x\n",
        "failedJobs",
        "whole number",
    ),
    "suspend": ("  schedule: '@daily'\n  suspend: maybe\n", "$.spec.suspend", "true or false"),
    "unknown-field": ("  schedule: '@daily'\n  scheduel: x\n", "$.spec.scheduel", "unknown field"),
    "when": ("  schedule: '@daily'\n  when: 'true'\n", "$.spec.when", "not supported"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_cron_is_one_line_with_path_and_line(case: str) -> None:
    spec, path, fragment = BAD[case]
    with pytest.raises(SpecError) as ei:
        read_cron(cron(spec), source="c.yaml")
    message = str(ei.value)
    assert "\n" not in message
    assert fragment in message and path in message and message.startswith("c.yaml:"), message


def test_name_and_kind_are_checked() -> None:
    with pytest.raises(SpecError, match=r"needs metadata\.name"):
        read_cron(
            cron("  schedule: '@daily'\n").replace("name: nightly", "name: Nightly_1"), source="c"
        )
    with pytest.raises(SpecError, match="kind must be 'CronWorkflow'"):
        read_cron(
            cron("  schedule: '@daily'\n").replace("kind: CronWorkflow", "kind: Workflow"),
            source="c",
        )
    with pytest.raises(SpecError, match="workflowSpec"):
        read_cron(cron("  schedule: '@daily'\n").split("  workflowSpec")[0], source="c")
