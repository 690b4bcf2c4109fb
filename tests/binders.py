"""Binders for tests that call the binding wing directly, as the conductor does."""

from cyborg.conductor.binding import arqs, quota, vgpu
from cyborg.conductor.binding import binder as binder_mod
from cyborg.conductor.placement import claiming


class Outbox:
    """A binder.NovaOutbox that counts rings: the events themselves are in the database."""

    def __init__(self) -> None:
        self.rings = 0

    def ring(self) -> None:
        self.rings += 1


def binder(
    *,
    claimer: claiming.Claimer | None = None,
    limits: quota.Limits | None = None,
    arq_limits: arqs.ARQLimits | None = None,
    programming: binder_mod.BindStep | None = None,
    mdevs: vgpu.MdevAgent | None = None,
    run_later: binder_mod.RunLater | None = None,
    nova: binder_mod.NovaOutbox | bool = False,
    conductor: str | None = None,
) -> binder_mod.Binder:
    """A Binder with these collaborators; ``nova=True`` writes Nova's events (to an
    Outbox nobody delivers), ``limits`` apply to every request, ``conductor`` is the
    conductor run its binds record (cyborg.objects.conductor)."""
    return binder_mod.Binder(
        claimer=claimer,
        limits=None if limits is None else (lambda _context: limits),
        arq_limits=arq_limits,
        programming=programming,
        mdevs=mdevs,
        run_later=run_later,
        nova=Outbox() if nova is True else (nova or None),
        conductor=conductor,
    )
