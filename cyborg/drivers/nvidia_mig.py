"""MIG geometry from ``nvidia-smi mig -lgip`` and ``nvidia-smi mig -lgipp``.

``-lgip`` prints a table per GPU index, two lines a profile; the first holds the GPU
index, name, id, free/total instances, memory in GiB, P2P, SM, DEC and ENC::

    |   0  MIG 1g.10gb       19     7/7        9.75       No     16     1     0   |

``-lgipp`` prints one line a profile, the start indices and size in memory slices
(``Placement :`` where there is only one start)::

    GPU  0 Profile ID 19 Placements: {0,1,2,3,4,5,6}:1

Both as NVIDIA's MIG user guide and recorded outputs show them (see
tests/fixtures/nvidia-mig/README.txt). The whole GPU has 8 memory slices and as many
compute slices as its largest profile ("7g.80gb": 7).
"""

import re

from cyborg.common import mig

_LGIP = re.compile(
    r"^\|\s*(\d+)\s+MIG\s+(\S+)\s+(\d+)\s+\d+/\d+\s+([\d.]+)\s+\S+\s+\d+\s+\d+\s+\d+\s*\|"
)
_LGIPP = re.compile(r"^GPU\s+(\d+)\s+Profile ID\s+(\d+)\s+Placements?\s*:\s*\{([\d,\s]*)\}:(\d+)")
MEMORY_SLICES = 8


def parse(lgip: str, lgipp: str) -> dict[int, mig.MigLayout]:
    """{GPU index: its layout}; a GPU without a parsable profile is left out."""
    placements: dict[tuple[int, int], tuple[tuple[int, ...], int]] = {}
    for line in lgipp.splitlines():
        match = _LGIPP.match(line.strip())
        if match:
            starts = tuple(int(s) for s in match.group(3).split(",") if s.strip())
            placements[(int(match.group(1)), int(match.group(2)))] = (starts, int(match.group(4)))
    profiles: dict[int, list[mig.MigProfile]] = {}
    for line in lgip.splitlines():
        match = _LGIP.match(line.strip())
        if not match or not mig.plain_profile(match.group(2)):
            continue
        gpu, profile_id = int(match.group(1)), int(match.group(3))
        if (gpu, profile_id) not in placements:
            continue
        starts, size = placements[(gpu, profile_id)]
        profiles.setdefault(gpu, []).append(
            mig.MigProfile(
                id=profile_id,
                name=match.group(2),
                memory_mb=round(float(match.group(4)) * 1024),
                compute_slices=int(match.group(2).split("g", 1)[0]),
                memory_slices=size,
                starts=starts,
            )
        )
    return {
        gpu: mig.MigLayout(max(p.compute_slices for p in found), MEMORY_SLICES, tuple(found))
        for gpu, found in profiles.items()
    }
