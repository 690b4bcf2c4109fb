"""Jobs: what a cluster-scheduling request asks for."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Job:
    """One training (or serving) job.

    ``work`` is in the job type's own units (steps, samples): the ones its throughputs
    are measured in. ``devices`` is the gang size; an elastic job also names
    ``max_devices`` and then runs on any count in that range, its throughput taken as
    linear in the count (the estimates are per ``devices`` devices).
    """

    id: str
    job_type: str
    work: float
    devices: int = 1
    max_devices: int | None = None
    weight: float = 1.0
    project: str = "default"
    arrival_s: float = 0.0

    def __post_init__(self) -> None:
        if self.devices < 1:
            raise ValueError(f"job {self.id!r}: devices must be at least 1")
        if self.max_devices is not None and self.max_devices < self.devices:
            raise ValueError(f"job {self.id!r}: max_devices is below devices")
        if self.work <= 0 or self.weight <= 0:
            raise ValueError(f"job {self.id!r}: work and weight must be positive")

    @property
    def elastic(self) -> bool:
        return self.max_devices is not None and self.max_devices > self.devices

    def counts(self) -> tuple[int, ...]:
        """Gang sizes it may run on, largest first."""
        top = self.max_devices or self.devices
        return tuple(range(top, self.devices - 1, -1))
