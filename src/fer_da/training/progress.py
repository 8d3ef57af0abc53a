"""Where a whole training job stands: every planned run's epochs, those done (restored
from checkpoints or trained now) and about how long the rest takes. Library code (no
Kedro): the job-progress hook feeds it the loop's events (training/events.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fer_da.training.workload import format_duration


@dataclass
class JobProgress:
    """``planned``: run id -> its epochs. An epoch trained now also gives the time an
    epoch of that run takes; a run not started yet is priced at the mean of the epochs
    trained so far (so the first estimate comes after the first epoch)."""

    planned: dict[str, int]
    done: dict[str, int] = field(default_factory=dict)
    last_seconds: dict[str, float] = field(default_factory=dict)
    trained: list[float] = field(default_factory=list)

    def start(self, run_id: str, done: int, epochs: int) -> None:
        self.planned.setdefault(run_id, epochs)  # a run the plan did not foresee counts too
        self.done[run_id] = done

    def epoch(self, run_id: str, epoch: int, seconds: float) -> None:
        self.done[run_id] = epoch
        self.last_seconds[run_id] = seconds
        self.trained.append(seconds)

    @property
    def total(self) -> int:
        return sum(self.planned.values())

    @property
    def finished(self) -> int:
        return sum(min(self.done.get(r, 0), e) for r, e in self.planned.items())

    def runs_finished(self) -> int:
        return sum(self.done.get(r, 0) >= e for r, e in self.planned.items())

    def seconds_left(self) -> float | None:
        """None until an epoch has been trained in this job."""
        if not self.trained:
            return None
        mean = sum(self.trained) / len(self.trained)
        return sum(max(e - self.done.get(r, 0), 0) * self.last_seconds.get(r, mean)
                   for r, e in self.planned.items())

    def line(self) -> str:
        left = self.seconds_left()
        eta = "" if left is None else f", about {format_duration(left)} left"
        share = self.finished / self.total if self.total else 1.0
        return (f"Job: {self.finished}/{self.total} epochs ({share:.0%}), "
                f"{self.runs_finished()}/{len(self.planned)} runs done{eta}")


def planned_epochs(plans: Mapping[str, list[Mapping]]) -> dict[str, int]:
    """Run id -> epochs, from each setup's plans (``plan_runs``), in the order they run."""
    return {p["run_id"]: int(p["config"]["epochs"]) for each in plans.values() for p in each}
