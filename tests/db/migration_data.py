"""Rows a deployment holds, per schema revision, for the data-preserving upgrade tests.

Each revision lists the rows of the tables it creates (or can newly hold, as NVMF
control paths), written as the schema of that revision has them: plain column names
and values, never the models (which are at head). ``ADDED_COLUMNS`` says what a
revision adds to the rows already there. Text beyond the BMP (4-byte UTF-8) goes in
every kind of text column that an operator or user may fill.

Timestamps are ISO strings, which every backend takes in an INSERT; they are compared
as the datetimes they read back as.
"""

import datetime
import json
from collections.abc import Callable
from typing import Any

Row = dict[str, Any]

FIRST = "575af221a9a6"

# Text beyond the BMP, and some within it, as users and drivers write it.
EMOJI = "\U0001f680 GPU für Ärzte \U00020000 \u4e2d\u6587"
T0 = "2026-01-02 03:04:05.123456"
T1 = "2026-02-03 04:05:06.654321"
T2 = "2026-03-04 05:06:07.000001"

HOST_A, HOST_B = "compute-1.example.org", "compute-2"
RP_GPU, RP_FPGA, RP_FPGA_REGION = (
    "7c6a9f0e-0b0b-3a3a-8a8a-000000000001",
    "7c6a9f0e-0b0b-3a3a-8a8a-000000000002",
    "7c6a9f0e-0b0b-3a3a-8a8a-000000000003",
)
RP_QAT = "7c6a9f0e-0b0b-3a3a-8a8a-000000000004"
INSTANCE_1, INSTANCE_2 = (
    "0d4d6c3e-6a2b-4e59-9c41-2f1f0a6e7b55",
    "5b0e4f8e-51a4-4d5e-9d7c-7c9f3f4c2a10",
)
BITSTREAM = "9f1c2a6e-3b7d-4c1e-8f2a-5d6e7f8a9b0c"


def _uuid(kind: int, n: int) -> str:
    return f"00000000-0000-4000-8{kind:03d}-{n:012d}"


def _stamped(row: Row, created: str = T0, updated: str | None = None) -> Row:
    return {**row, "created_at": created, "updated_at": updated}


def _group(resources: dict[str, str]) -> str:
    return json.dumps(resources, sort_keys=True)


_DEVICE_PROFILES = [
    _stamped(
        {
            "id": 1,
            "uuid": _uuid(1, 1),
            "name": "gpu-small",
            "profile_json": json.dumps(
                {"groups": [{"resources:PGPU": "1", "trait:CUSTOM_GPU_NVIDIA": "required"}]}
            ),
            "description": EMOJI,
            "project_id": None,
        }
    ),
    _stamped(
        {
            "id": 2,
            "uuid": _uuid(1, 2),
            "name": "fpga-\U0001f525-crypto",
            "profile_json": json.dumps(
                {
                    "groups": [
                        {
                            "resources:FPGA": "1",
                            "trait:CUSTOM_FPGA_INTEL": "required",
                            "accel:bitstream_id": BITSTREAM,
                        }
                    ]
                }
            ),
            "description": None,
            "project_id": "6f0e9d8c7b6a45e3a2b1c0d9e8f7a6b5",
        },
        T0,
        T1,
    ),
]

_DEVICES = [
    _stamped(
        {
            "id": 1,
            "uuid": _uuid(2, 1),
            "type": "GPU",
            "vendor": "10de",
            "model": "GA100 [A100 PCIe 40GB]",
            "std_board_info": json.dumps({"product_id": "20f1", "controller": "3D controller"}),
            "vendor_board_info": None,
            "hostname": HOST_A,
            "status": "enabled",
        }
    ),
    _stamped(
        {
            "id": 2,
            "uuid": _uuid(2, 2),
            "type": "FPGA",
            "vendor": "8086",
            "model": "PAC Arria 10",
            "std_board_info": json.dumps({"product_id": "09c4"}),
            "vendor_board_info": json.dumps({"label": EMOJI}, ensure_ascii=False),
            "hostname": HOST_A,
            "status": "enabled",
        },
        T0,
        T2,
    ),
    _stamped(
        {
            "id": 3,
            "uuid": _uuid(2, 3),
            "type": "QAT",
            "vendor": "8086",
            "model": "C62x Chipset QuickAssist",
            "std_board_info": None,
            "vendor_board_info": "",
            "hostname": HOST_B,
            "status": "maintaining",
        }
    ),
]

_CONTROLPATHS = [
    _stamped(
        {
            "id": n,
            "uuid": _uuid(3, n),
            "device_id": n,
            "hostname": host,
            "cpid_type": "PCI",
            "cpid_info": json.dumps(
                {"domain": "0000", "bus": bus, "device": "00", "function": "0"}, sort_keys=True
            ),
        }
    )
    for n, host, bus in ((1, HOST_A, "3b"), (2, HOST_A, "5e"), (3, HOST_B, "3d"))
]

_DEPLOYABLES = [
    _stamped(
        {
            "id": 1,
            "uuid": _uuid(4, 1),
            "parent_id": None,
            "root_id": None,
            "name": f"{HOST_A}_NVIDIA_GPU_0000:3b:00.0",
            "num_accelerators": 1,
            "device_id": 1,
            "rp_uuid": RP_GPU,
            "driver_name": "NVIDIA",
            "bitstream_id": None,
        }
    ),
    _stamped(
        {
            "id": 2,
            "uuid": _uuid(4, 2),
            "parent_id": None,
            "root_id": None,
            "name": f"{HOST_A}_INTEL_FPGA_0000:5e:00.0",
            "num_accelerators": 2,
            "device_id": 2,
            "rp_uuid": RP_FPGA,
            "driver_name": "intel",
            "bitstream_id": BITSTREAM,
        }
    ),
    _stamped(  # a region of the FPGA: parent and root point at the card's deployable
        {
            "id": 3,
            "uuid": _uuid(4, 3),
            "parent_id": 2,
            "root_id": 2,
            "name": f"{HOST_A}_INTEL_FPGA_0000:5e:00.0_region0",
            "num_accelerators": 1,
            "device_id": 2,
            "rp_uuid": RP_FPGA_REGION,
            "driver_name": "intel",
            "bitstream_id": None,
        }
    ),
    _stamped(
        {
            "id": 4,
            "uuid": _uuid(4, 4),
            "parent_id": None,
            "root_id": None,
            "name": f"{HOST_B}_QAT_0000:3d:00.0",
            "num_accelerators": 16,
            "device_id": 3,
            "rp_uuid": RP_QAT,
            "driver_name": None,
            "bitstream_id": None,
        }
    ),
]


def _pci(bus: str, function: str) -> str:
    return json.dumps(
        {"domain": "0000", "bus": bus, "device": "00", "function": function}, sort_keys=True
    )


_ATTACH_HANDLES = [
    _stamped(
        {
            "id": 1,
            "uuid": _uuid(5, 1),
            "deployable_id": 1,
            "cpid_id": 1,
            "in_use": True,
            "attach_type": "PCI",
            "attach_info": _pci("3b", "0"),
        },
        T0,
        T1,
    ),
    *(
        _stamped(
            {
                "id": 1 + n,
                "uuid": _uuid(5, 1 + n),
                "deployable_id": 2,
                "cpid_id": 2,
                "in_use": n == 1,
                "attach_type": "PCI",
                "attach_info": _pci("5e", str(n)),
            }
        )
        for n in (1, 2)
    ),
    _stamped(
        {
            "id": 4,
            "uuid": _uuid(5, 4),
            "deployable_id": 3,
            "cpid_id": 2,
            "in_use": False,
            "attach_type": "MDEV",
            "attach_info": json.dumps({"asked_type": "i915-GVTg_V5_4", "vgpu_mark": "x"}),
        }
    ),
    _stamped(
        {
            "id": 5,
            "uuid": _uuid(5, 5),
            "deployable_id": 4,
            "cpid_id": 3,
            "in_use": False,
            "attach_type": "TEST_PCI",
            "attach_info": _pci("3d", "1"),
        }
    ),
]

_ATTRIBUTE_VALUES = [
    (1, "rc", "PGPU"),
    (1, "trait0", "CUSTOM_GPU_NVIDIA"),
    (1, "trait1", "CUSTOM_GPU_PRODUCT_ID_20F1"),
    (2, "rc", "FPGA"),
    (2, "trait0", "CUSTOM_FPGA_INTEL"),
    (3, "rc", "FPGA"),
    (3, "trait0", "CUSTOM_FPGA_REGION_INTEL"),
    (4, "rc", "CUSTOM_QAT"),
    (4, "note", EMOJI),  # an operator's own attribute
]
_ATTRIBUTES = [
    _stamped({"id": n, "uuid": _uuid(6, n), "deployable_id": d, "key": k, "value": v})
    for n, (d, k, v) in enumerate(_ATTRIBUTE_VALUES, start=1)
]


def _arq(n: int, state: str, **values: Any) -> Row:
    row: Row = {
        "id": n,
        "uuid": _uuid(7, n),
        "project_id": "6f0e9d8c7b6a45e3a2b1c0d9e8f7a6b5",
        "state": state,
        "substate": state,
        "device_profile_id": 1,
        "device_profile_name": "gpu-small",
        "device_profile_group": _group({"resources:PGPU": "1"}),
        "device_profile_group_id": 0,
        "hostname": None,
        "device_rp_uuid": None,
        "instance_uuid": None,
        "attach_handle_id": None,
        "deployable_id": None,
    }
    return _stamped({**row, **values}, T1, T2 if state != "Initial" else None)


_BOUND_TO = {"hostname": HOST_A, "instance_uuid": INSTANCE_1}
_FPGA = {
    "device_profile_id": 2,
    "device_profile_name": "fpga-\U0001f525-crypto",
    "device_profile_group": _group({"resources:FPGA": "1", "accel:bitstream_id": BITSTREAM}),
}
_ARQS = [
    _arq(1, "Initial", project_id=None),
    _arq(2, "BindStarted", **_BOUND_TO, device_rp_uuid=RP_GPU),
    _arq(3, "Bound", **_BOUND_TO, device_rp_uuid=RP_GPU, attach_handle_id=1, deployable_id=1),
    _arq(
        4,
        "Bound",
        **_FPGA,
        device_profile_group_id=1,
        hostname=HOST_A,
        instance_uuid=INSTANCE_2,
        device_rp_uuid=RP_FPGA,
        attach_handle_id=2,
        deployable_id=2,
    ),
    _arq(5, "BindFailed", **_BOUND_TO, device_rp_uuid=RP_GPU),
    _arq(6, "Unbound"),
    _arq(7, "UnbindFailed", **_BOUND_TO, device_rp_uuid=RP_GPU),
    # Its profile was deleted (the foreign key is SET NULL); the name stays.
    _arq(8, "Deleting", device_profile_id=None, device_profile_name="gone-\U0001f47b"),
]

_HOSTS = [
    {
        "id": 1,
        "hostname": HOST_A,
        "inventory_fingerprint": "a" * 64,
        "last_seen_at": T2,
        "state": "up",
        "created_at": T0,
        "updated_at": T2,
    },
    {
        "id": 2,
        "hostname": HOST_B,
        "inventory_fingerprint": None,
        "last_seen_at": T0,
        "state": "stale",
        "created_at": T0,
        "updated_at": None,
    },
]

# An SPDK target's NVMe-oF control path (c3d9e2f4a7b1 lets cpid_type hold it).
_SPDK_DEVICE = _stamped(
    {
        "id": 4,
        "uuid": _uuid(2, 4),
        "type": "SSD",
        "vendor": "SPDK",
        "model": "NVMe-oF target",
        "std_board_info": None,
        "vendor_board_info": None,
        "hostname": HOST_B,
        "status": "enabled",
    }
)
_NVMF_CONTROLPATH = _stamped(
    {
        "id": 4,
        "uuid": _uuid(3, 4),
        "device_id": 4,
        "hostname": HOST_B,
        "cpid_type": "NVMF",
        "cpid_info": "nqn.2016-06.io.spdk:cnode1",
    }
)

_NOVA_NOTIFICATIONS = [
    _stamped(
        {
            "id": 1,
            "arq_id": 3,
            "arq_uuid": _uuid(7, 3),
            "instance_uuid": INSTANCE_1,
            "status": "completed",
            "attempts": 0,
            "next_attempt_at": T2,
        }
    ),
    _stamped(
        {
            "id": 2,
            "arq_id": 5,
            "arq_uuid": _uuid(7, 5),
            "instance_uuid": INSTANCE_1,
            "status": "failed",
            "attempts": 3,
            "next_attempt_at": T2,
        }
    ),
]
_FAILED_WITH_REASON = {
    **_arq(9, "BindFailed", **_BOUND_TO, device_rp_uuid=RP_GPU),
    "bind_failure_reason": f"no free attach handle on {RP_GPU} \U0001f614",
}
_CLAIMED = {
    **_arq(10, "Bound", **_BOUND_TO, device_rp_uuid=RP_QAT, attach_handle_id=5, deployable_id=4),
    "device_profile_id": None,
    "bind_failure_reason": None,
    "claimed_resources": json.dumps({RP_QAT: {"CUSTOM_QAT": 1}}),
}

_GRAPH_JSON = json.dumps(
    {"format": "onnx-lite", "nodes": [{"name": "matmul-\U0001f9ee", "op": "MatMul"}]},
    ensure_ascii=False,
)
_GRAPHS = [
    _stamped(
        {
            "id": 1,
            "uuid": _uuid(8, 1),
            "project_id": "6f0e9d8c7b6a45e3a2b1c0d9e8f7a6b5",
            "name": f"resnet {EMOJI}",
            "format": "onnx-lite",
            "graph_json": _GRAPH_JSON,
            "nodes": 1,
            # What MySQL's FLOAT (before 9c4e7a2d5b13) keeps: six digits.
            "flops": 1500000.0,
            "bytes_moved": 65536.5,
            "param_bytes": 0.25,
        }
    )
]
_PLANS = [
    _stamped(
        {
            "id": 1,
            "uuid": _uuid(9, 1),
            "graph_id": 1,
            "project_id": "6f0e9d8c7b6a45e3a2b1c0d9e8f7a6b5",
            "objective": "latency",
            "rank": 0,
            "request_json": json.dumps({"count": 1, "device_profile_name": "gpu-small"}),
            "result_json": json.dumps({"placements": {"matmul-\U0001f9ee": RP_GPU}}),
            "state": "claimed",
            "consumer_uuid": INSTANCE_2,
        }
    )
]
_FACTORS = [
    _stamped(
        {
            "id": 1,
            "op_type": "MatMul",
            "device_model": "GA100 [A100 PCIe 40GB]",
            "factor": 1.5,
            "samples": 12,
            "version": 3,
        }
    )
]

# After 9c4e7a2d5b13 every digit of a double is kept on every backend.
_PRECISE_GRAPH = {
    **_GRAPHS[0],
    "id": 2,
    "uuid": _uuid(8, 2),
    "name": "bert",
    "flops": 3141592653589.793,
    "bytes_moved": 2.718281828459045e9,
    "param_bytes": 1.0000001,
}
_PRECISE_FACTOR = {
    **_FACTORS[0],
    "id": 2,
    "op_type": "Conv",
    "factor": 0.123456789012345,
}

# A live conductor run and one that stopped.
_CONDUCTORS = [
    {
        "id": 1,
        "uuid": "c0ffee00-0000-4000-8000-000000000001",
        "hostname": "controller-1",
        "heartbeat_at": T2,
        "created_at": T0,
        "updated_at": T2,
    },
    {
        "id": 2,
        "uuid": "c0ffee00-0000-4000-8000-000000000002",
        "hostname": "controller-2",
        "heartbeat_at": None,
        "created_at": T0,
        "updated_at": T1,
    },
]

# A ResourceClaim holding an FPGA function of the first host (attach handle 3).
_POD_DEVICE_CLAIMS = [
    _stamped(
        {
            "id": 1,
            "claim_uid": "4a3b2c1d-0e9f-4a8b-9c7d-6e5f4a3b2c1d",
            "namespace": "ml-team",
            "name": "trainer-gpu-0",
            "hostname": HOST_A,
            "attach_handle_id": 3,
        }
    )
]

# b3e9d5a1c7f2: one MIG partition of the GPU that pod_device_claims row 1 holds.
_POD_MIG_PARTITIONS = [
    _stamped(
        {
            "id": 1,
            "claim_uid": "5b4c3d2e-1f0a-4b9c-8d7e-6f5a4b3c2d1e",
            "namespace": "ml-team",
            "name": "inference-mig",
            "hostname": HOST_A,
            "gpu_claim_id": 1,
            "profile": "1g.10gb",
            "start_slice": 3,
        }
    )
]

# The SPDK subsystem's deployable, its NVMF attach handle (f4b8e1c3a7d2 lets
# attach_type hold it) and an ARQ bound to that handle.
RP_NVMF = "7c6a9f0e-0b0b-3a3a-8a8a-000000000005"
_NVMF_DEPLOYABLE = _stamped(
    {
        "id": 5,
        "uuid": _uuid(4, 5),
        "parent_id": None,
        "root_id": None,
        "name": f"{HOST_B}_nqn.2016-06.io.spdk:cnode1",
        "num_accelerators": 1,
        "device_id": 4,
        "rp_uuid": RP_NVMF,
        "driver_name": "spdk",
        "bitstream_id": None,
    }
)
NVMF_HANDLE_ID = 6
_NVMF_HANDLE = _stamped(
    {
        "id": NVMF_HANDLE_ID,
        "uuid": _uuid(5, NVMF_HANDLE_ID),
        "deployable_id": 5,
        "cpid_id": 4,
        "in_use": True,
        "attach_type": "NVMF",
        "attach_info": json.dumps(
            {
                "adrfam": "IPv4",
                "subnqn": "nqn.2016-06.io.spdk:cnode1",
                "traddr": "192.168.100.8",
                "trsvcid": "4420",
                "trtype": "TCP",
            },
            sort_keys=True,
        ),
    }
)
NVMF_ARQ_ID = 11
_NVMF_ARQ = {
    **_arq(
        NVMF_ARQ_ID,
        "Bound",
        hostname=HOST_B,
        instance_uuid=INSTANCE_2,
        device_rp_uuid=RP_NVMF,
        attach_handle_id=NVMF_HANDLE_ID,
        deployable_id=5,
    ),
    "device_profile_id": None,
    "bind_failure_reason": None,
    "claimed_resources": json.dumps({RP_NVMF: {"CUSTOM_NVME_OF": 1}}),
    "binding_conductor": None,
}

# Two jobs of the queue (b3e7d1f9a4c6): one of a graph, queued; one of a job type with
# its measured throughputs, allocated.
_JOBS = [
    _stamped(
        {
            "id": 1,
            "uuid": _uuid(10, 1),
            "name": "train-\U0001f682",
            "project_id": "6f0e9d8c7b6a45e3a2b1c0d9e8f7a6b5",
            "graph_uuid": _uuid(8, 1),
            "job_type": None,
            "throughputs_json": None,
            "min_devices": 2,
            "max_devices": 2,
            "priority": 0,
            "weight": 1.0,
            "state": "queued",
            "allocation_json": None,
        }
    ),
    _stamped(
        {
            "id": 2,
            "uuid": _uuid(10, 2),
            "name": None,
            "project_id": "6f0e9d8c7b6a45e3a2b1c0d9e8f7a6b5",
            "graph_uuid": None,
            "job_type": "resnet50",
            "throughputs_json": json.dumps({"GA100 [A100 PCIe 40GB]": 1234.5678901234567}),
            "min_devices": 1,
            "max_devices": 8,
            "priority": 10,
            "weight": 0.123456789012345,
            "state": "allocated",
            "allocation_json": json.dumps({"model": "GA100 [A100 PCIe 40GB]", "count": 4}),
        },
        T1,
        T2,
    ),
]

# Rows each revision lets a deployment hold, in insertion order (parents first).
ROWS_AT: dict[str, list[tuple[str, list[Row]]]] = {
    FIRST: [
        ("device_profiles", _DEVICE_PROFILES),
        ("devices", _DEVICES),
        ("controlpath_ids", _CONTROLPATHS),
        ("deployables", _DEPLOYABLES),
        ("attach_handles", _ATTACH_HANDLES),
        ("attributes", _ATTRIBUTES),
        ("extended_accelerator_requests", _ARQS),
    ],
    "a5478d5b873f": [("hosts", _HOSTS)],
    "c3d9e2f4a7b1": [("devices", [_SPDK_DEVICE]), ("controlpath_ids", [_NVMF_CONTROLPATH])],
    "d7e2b9c4f1a6": [
        ("nova_notifications", _NOVA_NOTIFICATIONS),
        ("extended_accelerator_requests", [_FAILED_WITH_REASON]),
    ],
    "e5a3c8d2b7f4": [("extended_accelerator_requests", [_CLAIMED])],
    "f1b6d3a9c2e8": [("graphs", _GRAPHS), ("plans", _PLANS), ("scheduler_factors", _FACTORS)],
    "9c4e7a2d5b13": [("graphs", [_PRECISE_GRAPH]), ("scheduler_factors", [_PRECISE_FACTOR])],
    "a9c4e7b2d5f3": [("conductors", _CONDUCTORS)],
    "c8f3a1d6e2b9": [("pod_device_claims", _POD_DEVICE_CLAIMS)],
    "f4b8e1c3a7d2": [
        ("deployables", [_NVMF_DEPLOYABLE]),
        ("attach_handles", [_NVMF_HANDLE]),
        ("extended_accelerator_requests", [_NVMF_ARQ]),
    ],
    "b3e9d5a1c7f2": [("pod_mig_partitions", _POD_MIG_PARTITIONS)],
    "b3e7d1f9a4c6": [("jobs", _JOBS)],
}

# Columns a revision adds to rows already there, with the value they get; or a
# function of a row giving the values the revision sets in it.
ADDED_COLUMNS: dict[str, dict[str, Row | Callable[[Row], Row]]] = {
    "d7e2b9c4f1a6": {"extended_accelerator_requests": {"bind_failure_reason": None}},
    "e5a3c8d2b7f4": {"extended_accelerator_requests": {"claimed_resources": None}},
    "a9c4e7b2d5f3": {"extended_accelerator_requests": {"binding_conductor": None}},
    "e2c7a4f9b1d6": {
        "attributes": lambda row: {"source": _source_at_upgrade(row["key"])},
        "hosts": lambda row: {"inventory_fingerprint": None},  # each sends a full report
    },
}


def _source_at_upgrade(key: str) -> str:
    """Only the keys drivers alone write are known to be theirs (the note is unknown)."""
    return (
        "driver"
        if key in ("rc", "health", "health_reason") or key.startswith("trait")
        else "unknown"
    )


def as_read(value: Any) -> Any:
    """A value as compared: timestamps as datetimes, booleans as 0/1 (MySQL's TINYINT)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and len(value) == len(T0) and value[4] == "-" and value[10] == " ":
        return datetime.datetime.fromisoformat(value)
    return value
