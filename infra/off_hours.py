"""Working hours as EventBridge Scheduler cron expressions, and back (pure, no Pulumi).

The off-hours schedule of a stack is a pair of weekly crons per target: one
that starts it at the beginning of each working day, one that stops it at the
end. The program writes them (`start_and_stop_crons`); `stagecraft cost` reads
them back from the plan (`weekly_on_minutes`) to price what the schedule
leaves running, so the estimate follows what is deployed, not the config.

Scheduler cron fields: minutes hours day-of-month month day-of-week year; a
day-of-week with `?` day-of-month, in the schedule's own time zone:
https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#cron-based
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
HOURS_PER_WEEK = 7 * 24

# RDS starts an instance that has been stopped for seven days by itself:
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_StopInstance.html
RDS_AUTO_START_MINUTES = 7 * MINUTES_PER_DAY

_CRON = re.compile(
    r"^cron\((?P<minute>\d{1,2}) (?P<hour>\d{1,2}) \? \* "
    r"(?P<days>[A-Z]{3}(?:-[A-Z]{3})?(?:,[A-Z]{3}(?:-[A-Z]{3})?)*) \*\)$"
)


def minutes_of(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True)
class WorkingHours:
    """Days of the week, and the hours of each of those days, that a stack runs."""

    days: tuple[str, ...]  # of WEEKDAYS, in week order
    start: str  # HH:MM
    end: str  # HH:MM, later than start on the same day

    @property
    def start_cron(self) -> str:
        return cron(self.days, self.start)

    @property
    def stop_cron(self) -> str:
        return cron(self.days, self.end)

    @property
    def hours_per_week(self) -> float:
        return len(self.days) * (minutes_of(self.end) - minutes_of(self.start)) / 60

    @property
    def longest_stop_minutes(self) -> int:
        """The longest stretch stopped: from one working day's end to the next one's start."""
        on = weekly_on_minutes([self.start_cron], [self.stop_cron])
        return longest_run(on, False)


def cron(days: Iterable[str], hhmm: str) -> str:
    """A weekly Scheduler cron at ``hhmm`` on ``days`` ("cron(0 8 ? * MON-FRI *)")."""
    hours, minutes = (int(p) for p in hhmm.split(":"))
    indexes = sorted({WEEKDAYS.index(day) for day in days})
    runs: list[list[int]] = []
    for index in indexes:
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    names = ",".join(
        WEEKDAYS[run[0]].upper()
        if len(run) == 1
        else f"{WEEKDAYS[run[0]].upper()}-{WEEKDAYS[run[-1]].upper()}"
        for run in runs
    )
    return f"cron({minutes} {hours} ? * {names} *)"


def cron_minutes(expression: str) -> list[int]:
    """The minutes of the week (Monday 00:00 = 0) at which a weekly cron fires.

    Only the form `cron` writes; anything else raises ValueError, so an
    estimate never prices a schedule it did not understand.
    """
    match = _CRON.fullmatch(expression)
    if match is None:
        raise ValueError(f"not a weekly cron of the form 'cron(M H ? * MON-FRI *)': {expression}")
    minute, hour = int(match["minute"]), int(match["hour"])
    if minute > 59 or hour > 23:
        raise ValueError(f"no such time of day in {expression}")
    days: set[int] = set()
    for part in match["days"].lower().split(","):
        first, _, last = part.partition("-")
        for day in (first, last or first):
            if day not in WEEKDAYS:
                raise ValueError(f"unknown day {day.upper()} in {expression}")
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        if end < start:
            raise ValueError(f"day range {part.upper()} runs backwards in {expression}")
        days.update(range(start, end + 1))
    return sorted(day * MINUTES_PER_DAY + hour * 60 + minute for day in days)


def weekly_on_minutes(starts: Sequence[str], stops: Sequence[str]) -> list[bool]:
    """Whether the target runs, minute by minute over a week, under these crons.

    Each start turns it on and each stop off until the next event; the week
    repeats, so the state before the first event is the state after the last.
    """
    events = sorted(
        [(m, True) for expression in starts for m in cron_minutes(expression)]
        + [(m, False) for expression in stops for m in cron_minutes(expression)]
    )
    if not events:
        return [True] * MINUTES_PER_WEEK
    state = events[-1][1]
    week: list[bool] = []
    upcoming = iter(events)
    event = next(upcoming, None)
    for minute in range(MINUTES_PER_WEEK):
        while event is not None and event[0] == minute:
            state = event[1]
            event = next(upcoming, None)
        week.append(state)
    return week


def longest_run(week: Sequence[bool], value: bool) -> int:
    """The longest stretch of minutes holding ``value``, counted around the week's end."""
    if all(minute == value for minute in week):
        return len(week)
    longest = current = 0
    for minute in [*week, *week]:
        current = current + 1 if minute == value else 0
        longest = max(longest, current)
    return min(longest, len(week))


def on_fraction(starts: Sequence[str], stops: Sequence[str]) -> float:
    """The share of the week the crons leave the target running (1.0 with no crons)."""
    week = weekly_on_minutes(starts, stops)
    return sum(week) / len(week)


def cron_weekdays(field: str) -> set[str] | None:
    """A 5-field cron's day-of-week field ('*', '1-5', '0,6') as weekday names; None if other."""
    if field == "*":
        return set(WEEKDAYS)
    days: set[str] = set()
    for part in field.split(","):
        match = re.fullmatch(r"([0-7])(?:-([0-7]))?", part)
        if match is None:
            return None
        first, last = int(match[1]), int(match[2] or match[1])
        # Cron counts Sunday as 0 (and 7); WEEKDAYS starts on Monday.
        days |= {WEEKDAYS[(day - 1) % 7] for day in range(first, last + 1)}
    return days


def runs_per_week(cron: str) -> int | None:
    """How often a 5-field cron fires in a week, for one fixed time a day on chosen weekdays
    ('0 2 * * 6': 1); None for anything else (the caller says it cannot tell)."""
    fields = cron.split()
    if len(fields) != 5 or not (fields[0].isdigit() and fields[1].isdigit()):
        return None
    if fields[2] != "*" or fields[3] != "*":
        return None
    days = cron_weekdays(fields[4])
    return None if days is None else len(days)
