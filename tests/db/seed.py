"""Bulk fixture data: hosts full of devices, and ARQs bound to them, in a few statements."""

import json
import uuid as uuidlib

import sqlalchemy as sa
from oslo_utils import timeutils

from cyborg.db import models


def _uuid() -> str:
    return str(uuidlib.uuid4())


def pci(bus: int, function: int = 0) -> str:
    return json.dumps(
        {"bus": f"{bus:02x}", "device": "00", "domain": "0000", "function": str(function)},
        sort_keys=True,
    )


def devices(engine: sa.Engine, count: int, *, attributes_each: int = 3, hosts: int = 4) -> None:
    """``count`` GPUs, each with one deployable, ``attributes_each`` attributes and a handle.

    Explicit ids: the tables are empty at the start of every test.
    """
    now = timeutils.utcnow()
    device_rows, cpid_rows, deployable_rows, attribute_rows, handle_rows = [], [], [], [], []
    for i in range(1, count + 1):
        host = f"host{i % hosts}"
        device_rows.append(
            {
                "id": i,
                "uuid": _uuid(),
                "type": "GPU",
                "vendor": "10de",
                "model": "A100",
                "hostname": host,
                "status": "enabled",
                "created_at": now,
                "std_board_info": json.dumps({"product_id": "20b0"}),
            }
        )
        cpid_rows.append(
            {
                "id": i,
                "uuid": _uuid(),
                "device_id": i,
                "hostname": host,
                "cpid_type": "PCI",
                "cpid_info": pci(i // 8, i % 8),
                "created_at": now,
            }
        )
        deployable_rows.append(
            {
                "id": i,
                "uuid": _uuid(),
                "name": f"{host}_gpu{i}",
                "num_accelerators": 1,
                "device_id": i,
                "rp_uuid": _uuid(),
                "driver_name": "nvidia",
                "created_at": now,
            }
        )
        attribute_rows += [
            {"uuid": _uuid(), "deployable_id": i, "key": key, "value": value, "created_at": now}
            for key, value in [
                ("rc", "PGPU"),
                *((f"trait{n}", f"CUSTOM_T{n}") for n in range(attributes_each - 1)),
            ]
        ]
        handle_rows.append(
            {
                "id": i,
                "uuid": _uuid(),
                "deployable_id": i,
                "cpid_id": i,
                "in_use": False,
                "attach_type": "PCI",
                "attach_info": pci(i // 8, i % 8),
                "created_at": now,
            }
        )
    with engine.begin() as connection:
        for model, rows in [
            (models.Device, device_rows),
            (models.ControlpathID, cpid_rows),
            (models.Deployable, deployable_rows),
            (models.Attribute, attribute_rows),
            (models.AttachHandle, handle_rows),
        ]:
            connection.execute(sa.insert(model), rows)


def bound_arqs(engine: sa.Engine, count: int) -> None:
    """A device profile and ``count`` ARQs, each bound to device ``i``'s handle.

    Needs ``devices(engine, n)`` with n >= count first.
    """
    now = timeutils.utcnow()
    group = json.dumps({"resources:PGPU": "1"})
    with engine.begin() as connection:
        connection.execute(
            sa.insert(models.DeviceProfile),
            [
                {
                    "id": 1,
                    "uuid": _uuid(),
                    "name": "gpu",
                    "created_at": now,
                    "profile_json": json.dumps({"groups": [json.loads(group)]}),
                }
            ],
        )
        connection.execute(
            sa.insert(models.ExtendedAcceleratorRequest),
            [
                {
                    "uuid": _uuid(),
                    "project_id": "p1",
                    "state": "Bound",
                    "substate": "Initial",
                    "device_profile_id": 1,
                    "device_profile_name": "gpu",
                    "device_profile_group": group,
                    "device_profile_group_id": 0,
                    "hostname": f"host{i % 4}",
                    "device_rp_uuid": None,
                    "instance_uuid": _uuid(),
                    "attach_handle_id": i,
                    "deployable_id": i,
                    "created_at": now,
                }
                for i in range(1, count + 1)
            ],
        )


def bindable_deployable(context, *, handles: int, host: str = "host1", bus: int = 1):  # type: ignore[no-untyped-def]
    """A device with one deployable (its rp_uuid known) and ``handles`` PCI functions,
    made through cyborg.objects as the conductor would."""
    from cyborg.objects import attach_handle as handle_obj
    from cyborg.objects import controlpath as controlpath_obj
    from cyborg.objects import deployable as deployable_obj
    from cyborg.objects import device as device_obj

    device = device_obj.create(context, type="GPU", vendor="10de", model="A100", hostname=host)
    cpid = controlpath_obj.create(
        context, device_id=device.id, cpid_type="PCI", cpid_info=pci(bus)
    )
    deployable = deployable_obj.create(
        context, name=f"{host}_gpu{bus}", num_accelerators=handles, device_id=device.id,
        rp_uuid=_uuid(), driver_name="nvidia",
    )  # fmt: skip
    for function in range(handles):
        handle_obj.create(
            context, deployable_id=deployable.id, cpid_id=cpid.id, in_use=False,
            attach_type="PCI", attach_info=pci(bus, function),
        )  # fmt: skip
    return deployable


def plans(engine: sa.Engine, count: int, *, graphs: int = 2, project_id: str = "p1") -> list[str]:
    """``graphs`` graphs of project ``project_id`` and ``count`` plans spread over them
    round-robin, each with a result as large as a 1000-node plan's; the graphs' uuids."""
    now = timeutils.utcnow()
    graph_uuids = [_uuid() for _ in range(graphs)]
    placement = {f"node{i}": "gpu0" for i in range(1000)}
    result = json.dumps({"devices": [], "placement": placement})
    with engine.begin() as connection:
        connection.execute(
            sa.insert(models.Graph),
            [
                {
                    "id": g + 1,
                    "uuid": graph_uuid,
                    "project_id": project_id,
                    "name": f"graph{g}",
                    "format": "json",
                    "graph_json": json.dumps({"nodes": [{"name": "a", "op_type": "Relu"}]}),
                    "nodes": 1,
                    "flops": 0.0,
                    "bytes_moved": 0.0,
                    "param_bytes": 0.0,
                    "created_at": now,
                }
                for g, graph_uuid in enumerate(graph_uuids)
            ],
        )
        connection.execute(
            sa.insert(models.Plan),
            [
                {
                    "uuid": _uuid(),
                    "graph_id": i % graphs + 1,
                    "project_id": project_id,
                    "objective": "latency",
                    "rank": 1,
                    "request_json": "{}",
                    "result_json": result,
                    "state": "proposed",
                    "created_at": now,
                }
                for i in range(count)
            ],
        )
    return graph_uuids
