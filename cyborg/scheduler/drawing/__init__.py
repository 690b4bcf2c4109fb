"""Pictures of plans (SVG, pure Python): see :mod:`cyborg.scheduler.drawing.picture`."""
