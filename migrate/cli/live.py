"""Progress people can trust, on a terminal: one live line per running stage, finished stages
collapsed into one summary line each.

The live area only ever holds the stages still running (stages run one after another, so a
new stage means the earlier ones are done), so it stays a line or two high and is never pushed
off a small terminal, however many stages a long run has. A live line shows rows done, rows/s
and, where the total is known, the bar and an ETA; a finished stage prints, above the live
area, `✓ map material: 12,345 rows in 2.1 s (5,880 rows/s)`.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, ProgressColumn, TaskID, TextColumn
from rich.progress import Progress as RichProgress
from rich.progress import Task as RichTask
from rich.text import Text

from migrate.cli.output import counted, number


class _Counts(ProgressColumn):
    """`1,234/5,000` (`1,234 rows` when the total is unknown: no speed column says the unit)."""

    def render(self, task: RichTask) -> Text:
        done = number(int(task.completed))
        if task.total is not None:
            return Text(f"{done}/{number(int(task.total))}", style="progress.download")
        return Text(f"{done} {task.fields.get('unit', 'rows')}", style="progress.download")


class _Speed(ProgressColumn):
    def render(self, task: RichTask) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "rows")
        return Text(f"{number(round(speed))} {unit}/s" if speed else "", style="progress.data.speed")


class _Eta(ProgressColumn):
    """`ETA 0:01:23` where the total is known and a speed measured; else the time so far."""

    max_refresh = 0.5

    def render(self, task: RichTask) -> Text:
        remaining = task.time_remaining
        if task.total is None or remaining is None:
            return Text(_clock(task.elapsed or 0), style="progress.elapsed")
        return Text(f"ETA {_clock(remaining)}", style="progress.remaining")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def live_progress(console: Console) -> RichProgress:
    return RichProgress(
        TextColumn("{task.description}", justify="left"),
        BarColumn(bar_width=10),
        _Counts(),
        _Speed(),
        _Eta(),  # one line fits 80 columns: `map process_parameter ━━━╸━━ 30,000/200,000 8,433 rows/s ETA 0:00:21`
        console=console,
        transient=True,  # the live lines go when the work ends; the summary lines stay
        speed_estimate_period=10.0,
    )


class LiveStage:
    def __init__(self, stages: LiveStages, task_id: TaskID, description: str) -> None:
        self._stages, self._id, self.done = stages, task_id, False
        self.description = description  # the summary names the stage, not its last step

    def advance(self, amount: int = 1) -> None:
        if self.done:
            return
        self._stages.progress.advance(self._id, amount)
        task = self._stages.state(self._id)
        if task.total is not None and task.completed >= task.total:
            self._stages.finish(self)

    def update(self, *, total: int | None = None, description: str | None = None) -> None:
        if not self.done:
            self._stages.progress.update(self._id, total=total, description=description)


class LiveStages:
    """The engine's `Progress`, drawn by rich: running stages live, finished ones summarised."""

    def __init__(self, progress: RichProgress) -> None:
        self.progress = progress
        self._running: list[LiveStage] = []

    def task(self, description: str, total: int | None = None, unit: str = "rows") -> LiveStage:
        for stage in list(self._running):  # stages run one after another
            self.finish(stage)
        stage = LiveStage(self, self.progress.add_task(description, total=total, unit=unit), description)
        self._running.append(stage)
        return stage

    def finish(self, stage: LiveStage, *, stopped: bool = False) -> None:
        stage.done = True
        self._running.remove(stage)
        task = self.state(stage._id)
        self.progress.remove_task(stage._id)
        unit = task.fields.get("unit", "rows")
        self.progress.console.print(
            summary_line(
                stage.description, int(task.completed), task.elapsed or 0.0, unit, task.total, stopped
            )
        )

    def state(self, task_id: TaskID) -> RichTask:
        return next(t for t in self.progress.tasks if t.id == task_id)

    def close(self, *, stopped: bool = False) -> None:
        """End the running stages: summarised as done, or (the command failed or was stopped)
        as stopped, with how far they got."""
        for stage in list(self._running):
            self.finish(stage, stopped=stopped)


def summary_line(
    description: str,
    done: int,
    seconds: float,
    unit: str = "rows",
    total: float | None = None,
    stopped: bool = False,
) -> Text:
    rate = f", {number(round(done / seconds))} {unit}/s" if seconds > 0.05 and done and unit == "rows" else ""
    if stopped:  # never a tick for work that did not end
        of = f" of {number(int(total))}" if total else ""
        line = Text("✗ ", style="red")
        line.append(f"{description}: stopped at {number(done)}{of} {unit} after {seconds:.1f} s")
        return line
    line = Text("✓ ", style="green")
    line.append(f"{description}: {counted(done, unit)} in {seconds:.1f} s{rate}")
    return line
