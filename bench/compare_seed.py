"""Rows for the side-by-side benchmark, written straight into either schema.

Ours and upstream 17.0.0 share table and column names for devices, deployables,
attach handles and ARQs, but each has columns of its own (ours: an ARQ's profile
name and group; upstream: a device's ``device_state``). The tables are reflected
and each row keeps only the columns its table has, so one seeder fills both.
Seeded devices are on hosts no agent reports (``seed-host-N``), with providers
Placement has never seen: the agents and conductors leave them alone.
"""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from oslo_utils import timeutils

HOSTS = 4
HANDLES_EACH = 16  # an ARQ holds a handle of its own: 999 devices take 10,000 ARQs
BATCH = 1000


def _uuid() -> str:
    return str(uuid.uuid4())


def _pci(n: int) -> str:
    bus, function = divmod(n, 8)
    return json.dumps(
        {
            "bus": f"{bus % 256:02x}",
            "device": f"{bus // 256 % 32:02x}",
            "domain": "0000",
            "function": str(function),
        },
        sort_keys=True,
    )


class Seeder:
    def __init__(self, engine: sa.Engine, project_id: str) -> None:
        self.engine = engine
        self.project_id = project_id
        self.meta = sa.MetaData()
        self.meta.reflect(
            engine,
            only=[
                "devices",
                "controlpath_ids",
                "deployables",
                "attributes",
                "attach_handles",
                "device_profiles",
                "extended_accelerator_requests",
            ],
        )
        self.handles: list[tuple[int, int]] = []  # (attach handle id, deployable id)
        self.taken = 0  # handles given to ARQs so far, from the start of ``handles``

    def _insert(self, connection: sa.Connection, name: str, rows: list[dict[str, Any]]) -> None:
        table = self.meta.tables[name]
        kept = [{k: v for k, v in row.items() if k in table.c} for row in rows]
        for start in range(0, len(kept), BATCH):
            connection.execute(sa.insert(table), kept[start : start + BATCH])

    def _next_id(self, connection: sa.Connection, name: str) -> int:
        table = self.meta.tables[name]
        return int(connection.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0) + 1

    def devices(self, count: int) -> None:
        """``count`` GPUs, each with a control path, a deployable of ``HANDLES_EACH``
        accelerators, two attributes and an attach handle per accelerator."""
        now = timeutils.utcnow()
        with self.engine.begin() as connection:
            first = max(
                self._next_id(connection, t)
                for t in (
                    "devices",
                    "controlpath_ids",
                    "deployables",
                )
            )
            first_handle = self._next_id(connection, "attach_handles")
            rows: dict[str, list[dict[str, Any]]] = {
                t: []
                for t in (
                    "devices",
                    "controlpath_ids",
                    "deployables",
                    "attributes",
                    "attach_handles",
                )
            }
            for i in range(first, first + count):
                host = f"seed-host-{i % HOSTS}"
                rows["devices"].append(
                    {
                        "id": i,
                        "uuid": _uuid(),
                        "type": "GPU",
                        "vendor": "10de",
                        "model": "A100",
                        "hostname": host,
                        "status": "enabled",
                        "std_board_info": json.dumps({"product_id": "20b0"}),
                        "created_at": now,
                    }
                )
                rows["controlpath_ids"].append(
                    {
                        "id": i,
                        "uuid": _uuid(),
                        "device_id": i,
                        "hostname": host,
                        "cpid_type": "PCI",
                        "cpid_info": _pci(i),
                        "created_at": now,
                    }
                )
                rows["deployables"].append(
                    {
                        "id": i,
                        "uuid": _uuid(),
                        "name": f"{host}_gpu{i}",
                        "num_accelerators": HANDLES_EACH,
                        "device_id": i,
                        "rp_uuid": _uuid(),
                        "driver_name": "nvidia",
                        "created_at": now,
                    }
                )
                rows["attributes"] += [
                    {
                        "uuid": _uuid(),
                        "deployable_id": i,
                        "key": key,
                        "value": value,
                        "created_at": now,
                    }
                    for key, value in (("rc", "PGPU"), ("trait0", "CUSTOM_SEEDED"))
                ]
                for _ in range(HANDLES_EACH):
                    handle = first_handle + len(rows["attach_handles"])
                    rows["attach_handles"].append(
                        {
                            "id": handle,
                            "uuid": _uuid(),
                            "deployable_id": i,
                            "cpid_id": i,
                            "in_use": True,
                            "attach_type": "PCI",
                            "attach_info": _pci(handle),
                            "created_at": now,
                        }
                    )
                    self.handles.append((handle, i))
            for name, table_rows in rows.items():
                self._insert(connection, name, table_rows)

    def bound_arqs(self, count: int) -> None:
        """``count`` Bound ARQs of the bench's project, each on a seeded handle no
        other holds (``devices`` first), under a device profile of their own."""
        free = len(self.handles) - self.taken
        if free < count:
            raise ValueError(f"{count} ARQs need as many free seeded handles, not {free}")
        now = timeutils.utcnow()
        group = {"resources:PGPU": "1"}
        with self.engine.begin() as connection:
            profile = self._next_id(connection, "device_profiles")
            self._insert(
                connection,
                "device_profiles",
                [
                    {
                        "id": profile,
                        "uuid": _uuid(),
                        "name": f"seeded-{profile}",
                        "profile_json": json.dumps({"groups": [group]}),
                        "created_at": now,
                    }
                ],
            )
            self._insert(
                connection,
                "extended_accelerator_requests",
                list(self._arq_rows(count, profile, group, now)),
            )

    def _arq_rows(
        self, count: int, profile: int, group: dict[str, str], now: Any
    ) -> Iterator[dict[str, Any]]:
        for n in range(count):
            handle, deployable = self.handles[self.taken]
            self.taken += 1
            yield {
                "uuid": _uuid(),
                "project_id": self.project_id,
                "state": "Bound",
                "substate": "Initial",
                "device_profile_id": profile,
                "device_profile_name": f"seeded-{profile}",
                "device_profile_group": json.dumps(group),
                "device_profile_group_id": 0,
                "hostname": f"seed-host-{n % HOSTS}",
                "device_rp_uuid": None,
                "instance_uuid": _uuid(),
                "attach_handle_id": handle,
                "deployable_id": deployable,
                "created_at": now,
            }
