"""The OpenAPI 3.1 document of API v2, built from the schemas the handlers validate with.

Served at ``/openapi.json`` and kept as ``doc/source/api/openapi.json`` (a test fails
when that copy is stale: regenerate with ``tools/generate-openapi.py``).
"""

import copy
from typing import Any

from cyborg.api import microversion
from cyborg.api.schemas import accelerator_request as arq_schema
from cyborg.api.schemas import device_profile as dp_schema
from cyborg.api.schemas import graph as graph_schema
from cyborg.api.schemas import inventory as inventory_schema
from cyborg.api.schemas import job as job_schema
from cyborg.api.schemas import plan as plan_schema
from cyborg.common import constants

JSON = "application/json"

_TIMESTAMPS = {"created_at": {"type": "string"}, "updated_at": {"type": ["string", "null"]}}
_LINKS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "href": {"type": "string"},
            "rel": {"type": "string"},
            "type": {"type": "string"},
        },
    },
}
_NULLABLE_STR = {"type": ["string", "null"]}
# A plan in a list; shown alone it also has its request and result.
_PLAN_SUMMARY = {
    "uuid": {"type": "string"},
    "graph_uuid": {"type": "string"},
    "rank": {"type": "integer"},
    "objective": {"enum": ["latency", "throughput"]},
    "state": {"enum": constants.values(constants.PlanState)},
    "consumer_uuid": _NULLABLE_STR,
    **_TIMESTAMPS,
    "links": _LINKS,
}

RESOURCES: dict[str, dict[str, Any]] = {
    "Device": {
        "type": "object",
        "properties": {
            "uuid": {"type": "string"},
            "type": {"enum": constants.values(constants.DeviceType)},
            "vendor": {"type": "string"},
            "model": {"type": "string"},
            "std_board_info": _NULLABLE_STR,
            "vendor_board_info": _NULLABLE_STR,
            "hostname": {"type": "string"},
            "status": {
                "enum": constants.values(constants.DeviceStatus),
                "description": f"From microversion {microversion.DEVICE_STATUS}.",
            },
            **_TIMESTAMPS,
            "links": _LINKS,
        },
    },
    "Deployable": {
        "type": "object",
        "properties": {
            "uuid": {"type": "string"},
            "parent_id": {"type": ["integer", "null"]},
            "root_id": {"type": ["integer", "null"]},
            "name": {"type": "string"},
            "num_accelerators": {"type": "integer"},
            "device_id": {"type": "integer"},
            "attributes_list": {"type": "string", "description": "JSON list of {key: value}."},
            "rp_uuid": _NULLABLE_STR,
            "driver_name": _NULLABLE_STR,
            "bitstream_id": _NULLABLE_STR,
            "holders": {
                "type": "array",
                "description": f"From microversion {microversion.DEVICE_HOLDERS}. Who "
                "holds each of its devices: a VM or a Kubernetes pod's ResourceClaim "
                "(who exactly only with policy cyborg:deployable:get_holders).",
                "items": {
                    "type": "object",
                    "properties": {
                        "type": {"enum": ["instance", "pod"]},
                        "instance_uuid": _NULLABLE_STR,
                        "claim_uid": {"type": "string"},
                        "namespace": {"type": "string"},
                        "name": {"type": "string"},
                    },
                    "required": ["type"],
                },
            },
            **_TIMESTAMPS,
            "links": _LINKS,
        },
    },
    "Attribute": {
        "type": "object",
        "properties": {
            "uuid": {"type": "string"},
            "deployable_id": {"type": "integer"},
            "key": {"type": "string"},
            "value": {"type": "string"},
            **_TIMESTAMPS,
            "links": _LINKS,
        },
    },
    "DeviceProfile": {
        "type": "object",
        "properties": {
            "uuid": {"type": "string"},
            "name": {"type": "string"},
            "description": _NULLABLE_STR,
            "groups": {"type": "array", "items": {"type": "object"}},
            **_TIMESTAMPS,
            "links": _LINKS,
        },
    },
    "AcceleratorRequest": {
        "type": "object",
        "properties": {
            "uuid": {"type": "string"},
            "state": {"enum": constants.values(constants.ARQState)},
            "device_profile_name": {"type": "string"},
            "device_profile_group_id": {"type": "integer"},
            "hostname": _NULLABLE_STR,
            "device_rp_uuid": _NULLABLE_STR,
            "instance_uuid": _NULLABLE_STR,
            "project_id": _NULLABLE_STR,
            "attach_handle_type": {"type": "string"},
            "attach_handle_uuid": _NULLABLE_STR,
            "attach_handle_info": {"type": "object"},
            **_TIMESTAMPS,
            "links": _LINKS,
        },
    },
    "Graph": {
        "type": "object",
        "description": f"From microversion {microversion.SCHEDULER}. 'analysis' when shown alone.",
        "properties": {
            "uuid": {"type": "string"},
            "name": {"type": "string"},
            "format": {"enum": ["json", "onnx"]},
            "nodes": {"type": "integer"},
            "gflops": {"type": "number"},
            "bytes_moved": {"type": "number"},
            "param_bytes": {"type": "number"},
            "project_id": _NULLABLE_STR,
            "created_at": {"type": "string"},
            "analysis": {"type": "object"},
            "links": _LINKS,
        },
    },
    "Plan": {
        "type": "object",
        "description": (
            f"From microversion {microversion.SCHEDULER}. 'result' holds the device of every node "
            "('placement'), the devices used (deployable, provider, host, compute and "
            "memory), the estimates and the learned factors it used. From microversion "
            f"{microversion.PLAN_PICTURES} 'links' also holds the picture (rel 'describedby', "
            "type 'image/svg+xml': the same URL asked for with that Accept)."
        ),
        "properties": {
            **_PLAN_SUMMARY,
            "request": {"type": "object"},
            "result": {"type": "object"},
        },
    },
    "Job": {
        "type": "object",
        "description": f"From microversion {microversion.JOBS}. A cluster-scheduling job; "
        "state queued (in the scheduler's queue, ordered by priority descending, then "
        "created_at), allocated (devices proposed in allocation; nothing bound), running, "
        "finished or cancelled.",
        "properties": {
            "uuid": {"type": "string"},
            "name": _NULLABLE_STR,
            "project_id": _NULLABLE_STR,
            "graph_uuid": _NULLABLE_STR,
            "job_type": _NULLABLE_STR,
            "throughputs": {
                "type": ["object", "null"],
                "additionalProperties": {"type": "number"},
                "description": "Work units per second of one gang, by device model.",
            },
            "devices": {
                "type": "object",
                "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
            },
            "priority": {"type": "integer"},
            "weight": {"type": "number"},
            "state": {"enum": constants.values(constants.JobState)},
            "allocation": {
                "type": ["object", "null"],
                "description": "The scheduler's proposed devices; null until allocated.",
            },
            **_TIMESTAMPS,
            "links": _LINKS,
        },
    },
    "PlanSummary": {
        "type": "object",
        "description": f"From microversion {microversion.PLAN_PICTURES}: a plan in a list.",
        "properties": _PLAN_SUMMARY,
    },
    "PlanClaim": {
        "description": (
            "The claimed plan, with the ARQs bound to its devices: 'arqs' lists their "
            "uuids, 'accelerator_requests' the ARQs themselves (host, provider and attach "
            "handle: where each device is)."
        ),
        "allOf": [
            {"$ref": "#/components/schemas/Plan"},
            {
                "type": "object",
                "properties": {
                    "arqs": {"type": "array", "items": {"type": "string"}},
                    "accelerator_requests": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/AcceleratorRequest"},
                    },
                },
            },
        ],
    },
    "Error": {
        "type": "object",
        "required": ["error_message"],
        "properties": {
            "error_message": {
                "type": "string",
                "description": "JSON string of {faultcode, faultstring, debuginfo}.",
            }
        },
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _clean(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop our private keywords from a validation schema."""
    schema = copy.deepcopy(schema)

    def strip(node: Any) -> None:
        if isinstance(node, dict):
            node.pop("description_on_error", None)
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)

    strip(schema)
    return schema


def _query(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "query", "required": False, "schema": _clean(prop)}
        for name, prop in schema["properties"].items()
    ]


def _uuid_path(name: str = "uuid") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_BIND_DESCRIPTION = (
    "Bind ('add' of /hostname, /device_rp_uuid, /instance_uuid) or unbind ('remove') "
    f"ARQs; needs a service token. From microversion {microversion.STANDALONE_BIND} a bind "
    "may leave out /device_rp_uuid: Cyborg then picks a free device on /hostname from "
    "Placement's allocation candidates and claims it for /instance_uuid (any consumer "
    "uuid); 403 when that exceeds the project's quota, 409 when no device is free, 503 "
    "without Placement. Unbind and delete release what Cyborg claimed."
)


def _errors(*codes: int) -> dict[str, Any]:
    return {
        str(code): {"description": "Error", "content": {JSON: {"schema": _ref("Error")}}}
        for code in codes
    }


def _ok(code: int, schema: dict[str, Any] | None, description: str = "OK") -> dict[str, Any]:
    if schema is None:
        return {str(code): {"description": description}}
    return {str(code): {"description": description, "content": {JSON: {"schema": schema}}}}


def _list_of(key: str, item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [key],
        "properties": {key: {"type": "array", "items": _ref(item)}, "next": {"type": "string"}},
    }


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": _clean(schema)}}}


def _version_header(first: microversion.Version) -> dict[str, Any]:
    """The microversion header of an operation that exists from ``first`` (404 below)."""
    return {
        "name": microversion.HEADER,
        "in": "header",
        "required": True,
        "schema": {
            "type": "string",
            "enum": [microversion.header_value(v) for v in microversion.versions_since(first)],
        },
    }


# The scheduler's resources exist from microversion.SCHEDULER, the list of plans from
# PLAN_PICTURES.
_SCHEDULER_HEADER = _version_header(microversion.SCHEDULER)
_PICTURES_HEADER = _version_header(microversion.PLAN_PICTURES)
_LIST_PLANS = (
    f"From microversion {microversion.PLAN_PICTURES} (404 below): the plans, without their "
    "request and result; 'graph_uuid' keeps one graph's."
)
_SHOW_PLAN = (
    f"The plan as JSON; from microversion {microversion.PLAN_PICTURES} with 'Accept: "
    "image/svg+xml' its picture: the graph coloured by device and each device's timeline "
    "of one step (406 below, and for a type it cannot serve)."
)


def _scheduler_paths() -> dict[str, Any]:
    return {
        "/v2/graphs": {
            "get": {
                "operationId": "list_graphs",
                "parameters": [_SCHEDULER_HEADER, *_query(graph_schema.LIST_QUERY)],
                "responses": {**_ok(200, _list_of("graphs", "Graph")), **_errors(400, 403, 404)},
            },
            "post": {
                "operationId": "create_graph",
                "description": "A graph in the JSON graph format (its ``colocate`` groups "
                "from the co-location microversion), or {'onnx': base64}.",
                "parameters": [_SCHEDULER_HEADER],
                "requestBody": _body(graph_schema.CREATE_2_8),
                "responses": {**_ok(201, _ref("Graph"), "Created"), **_errors(400, 403, 404)},
            },
        },
        "/v2/graphs/{uuid}": {
            "get": {
                "operationId": "show_graph",
                "parameters": [_SCHEDULER_HEADER, _uuid_path()],
                "responses": {**_ok(200, _ref("Graph")), **_errors(403, 404)},
            }
        },
        "/v2/graphs/{uuid}/plans": {
            "post": {
                "operationId": "create_plans",
                "description": "Ranked plans of the graph on the free accelerators that "
                "the device profile and constraints allow.",
                "parameters": [_SCHEDULER_HEADER, _uuid_path()],
                "requestBody": _body(plan_schema.CREATE),
                "responses": {
                    **_ok(201, _list_of("plans", "Plan"), "Created"),
                    **_errors(400, 403, 404, 409),
                },
            }
        },
        "/v2/plans": {
            "get": {
                "operationId": "list_plans",
                "description": _LIST_PLANS,
                "parameters": [_PICTURES_HEADER, *_query(plan_schema.LIST_QUERY_2_7)],
                "responses": {
                    **_ok(200, _list_of("plans", "PlanSummary")),
                    **_errors(400, 403, 404),
                },
            }
        },
        "/v2/plans/{uuid}": {
            "get": {
                "operationId": "show_plan",
                "description": _SHOW_PLAN,
                "parameters": [_SCHEDULER_HEADER, _uuid_path()],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {
                            JSON: {"schema": _ref("Plan")},
                            "image/svg+xml": {"schema": {"type": "string"}},
                        },
                    },
                    **_errors(403, 404, 406),
                },
            }
        },
        "/v2/plans/{uuid}/claim": {
            "post": {
                "operationId": "claim_plan",
                "description": "The ARQs of the device profile (the plan's unless named) "
                "bound to each device of the plan for one consumer (a new uuid unless "
                "named), the devices claimed in Placement; all or nothing. 503 without "
                "Placement.",
                "parameters": [_SCHEDULER_HEADER, _uuid_path()],
                "requestBody": {**_body(plan_schema.CLAIM), "required": False},
                "responses": {
                    **_ok(200, _ref("PlanClaim")),
                    **_errors(400, 403, 404, 409, 503),
                },
            }
        },
        "/v2/plans/{uuid}/measurements": {
            "post": {
                "operationId": "measure_plan",
                "description": "A measured step time, optionally each device's busy "
                "time; the learned factors are updated.",
                "parameters": [_SCHEDULER_HEADER, _uuid_path()],
                "requestBody": _body(plan_schema.MEASURE),
                "responses": {**_ok(202, None, "Accepted"), **_errors(400, 403, 404)},
            }
        },
    }


_JOBS_HEADER = _version_header(microversion.JOBS)


def _job_paths() -> dict[str, Any]:
    return {
        "/v2/jobs": {
            "get": {
                "operationId": "list_jobs",
                "description": "The project's jobs (an administrator's: every project's, "
                "or one project's with project_id; others may name only their own).",
                "parameters": [_JOBS_HEADER, *_query(job_schema.LIST_QUERY)],
                "responses": {**_ok(200, _list_of("jobs", "Job")), **_errors(400, 403, 404)},
            },
            "post": {
                "operationId": "create_job",
                "description": "Queue a job: exactly one of graph_uuid (a graph of the "
                "project) and job_type; devices min <= max. 403 when the project already "
                "has [quota] queued_jobs jobs queued.",
                "parameters": [_JOBS_HEADER],
                "requestBody": _body(job_schema.CREATE),
                "responses": {**_ok(201, _ref("Job"), "Created"), **_errors(400, 403, 404)},
            },
        },
        "/v2/jobs/{uuid}": {
            "get": {
                "operationId": "show_job",
                "parameters": [_JOBS_HEADER, _uuid_path()],
                "responses": {**_ok(200, _ref("Job")), **_errors(403, 404)},
            },
            "delete": {
                "operationId": "cancel_job",
                "description": "Cancel a queued or allocated job (it stays, cancelled); "
                "409 in any other state.",
                "parameters": [_JOBS_HEADER, _uuid_path()],
                "responses": {**_ok(204, None, "Cancelled"), **_errors(403, 404, 409)},
            },
        },
    }


def _paths() -> dict[str, Any]:
    listing = (400, 401, 403, 406)
    return {
        **_scheduler_paths(),
        **_job_paths(),
        "/v2/devices": {
            "get": {
                "operationId": "list_devices",
                "parameters": _query(inventory_schema.DEVICES_QUERY),
                "responses": {**_ok(200, _list_of("devices", "Device")), **_errors(*listing)},
            }
        },
        "/v2/devices/{uuid}": {
            "get": {
                "operationId": "show_device",
                "parameters": [_uuid_path()],
                "responses": {**_ok(200, _ref("Device")), **_errors(403, 404, 406)},
            }
        },
        "/v2/devices/{uuid}/enable": {
            "post": {
                "operationId": "enable_device",
                "parameters": [_uuid_path()],
                "responses": {**_ok(200, None), **_errors(403, 404)},
            }
        },
        "/v2/devices/{uuid}/disable": {
            "post": {
                "operationId": "disable_device",
                "parameters": [_uuid_path()],
                "responses": {**_ok(200, None), **_errors(403, 404)},
            }
        },
        "/v2/deployables": {
            "get": {
                "operationId": "list_deployables",
                "parameters": _query(inventory_schema.DEPLOYABLES_QUERY),
                "responses": {
                    **_ok(200, _list_of("deployables", "Deployable")),
                    **_errors(*listing),
                },
            }
        },
        "/v2/deployables/{uuid}": {
            "get": {
                "operationId": "show_deployable",
                "parameters": [_uuid_path()],
                "responses": {**_ok(200, _ref("Deployable")), **_errors(403, 404)},
            }
        },
        "/v2/deployables/{uuid}/program": {
            "patch": {
                "operationId": "program_deployable",
                "parameters": [_uuid_path()],
                "requestBody": _body(inventory_schema.PROGRAM),
                "responses": {
                    **_ok(200, _ref("Deployable")),
                    **_errors(400, 403, 404, 409, 502, 503),
                },
            }
        },
        "/v2/attributes": {
            "get": {
                "operationId": "list_attributes",
                "parameters": _query(inventory_schema.ATTRIBUTES_QUERY),
                "responses": {
                    **_ok(200, _list_of("attributes", "Attribute")),
                    **_errors(*listing),
                },
            },
            "post": {
                "operationId": "create_attribute",
                "requestBody": _body(inventory_schema.CREATE_ATTRIBUTE),
                "responses": {
                    **_ok(201, _ref("Attribute"), "Created"),
                    **_errors(400, 403, 404, 409),
                },
            },
        },
        "/v2/attributes/{uuid}": {
            "get": {
                "operationId": "show_attribute",
                "parameters": [_uuid_path()],
                "responses": {**_ok(200, _ref("Attribute")), **_errors(403, 404)},
            },
            "delete": {
                "operationId": "delete_attribute",
                "parameters": [_uuid_path()],
                "responses": {**_ok(204, None, "Deleted"), **_errors(403, 404, 409)},
            },
        },
        "/v2/device_profiles": {
            "get": {
                "operationId": "list_device_profiles",
                "parameters": _query(dp_schema.LIST_QUERY),
                "responses": {
                    **_ok(200, _list_of("device_profiles", "DeviceProfile")),
                    **_errors(*listing),
                },
            },
            "post": {
                "operationId": "create_device_profile",
                "requestBody": _body(dp_schema.CREATE),
                "responses": {
                    **_ok(201, _ref("DeviceProfile"), "Created"),
                    **_errors(400, 403, 409),
                },
            },
            "delete": {
                "operationId": "delete_device_profiles_by_query",
                "parameters": _query(dp_schema.DELETE_QUERY),
                "responses": {**_ok(204, None, "Deleted"), **_errors(400, 403, 404)},
            },
        },
        "/v2/device_profiles/{uuid_or_name}": {
            "get": {
                "operationId": "show_device_profile",
                "parameters": [_uuid_path("uuid_or_name")],
                "responses": {
                    **_ok(
                        200,
                        {
                            "type": "object",
                            "properties": {"device_profile": _ref("DeviceProfile")},
                        },
                    ),
                    **_errors(403, 404, 406),
                },
            },
            "delete": {
                "operationId": "delete_device_profiles",
                "parameters": [_uuid_path("uuid_or_name")],
                "responses": {**_ok(204, None, "Deleted"), **_errors(400, 403, 404)},
            },
        },
        "/v2/accelerator_requests": {
            "get": {
                "operationId": "list_accelerator_requests",
                "parameters": _query(arq_schema.LIST_QUERY),
                "responses": {
                    **_ok(200, _list_of("arqs", "AcceleratorRequest")),
                    **_errors(*listing, 423),
                },
            },
            "post": {
                "operationId": "create_accelerator_requests",
                "requestBody": _body(arq_schema.CREATE),
                "responses": {
                    **_ok(201, _list_of("arqs", "AcceleratorRequest"), "Created"),
                    **_errors(400, 403, 404),
                },
            },
            "patch": {
                "operationId": "bind_or_unbind_accelerator_requests",
                "description": _BIND_DESCRIPTION,
                "requestBody": _body(arq_schema.PATCH),
                "responses": {
                    **_ok(202, None, "Accepted"),
                    **_errors(400, 403, 404, 406, 409, 503),
                },
            },
            "delete": {
                "operationId": "delete_accelerator_requests",
                "parameters": _query(arq_schema.DELETE_QUERY),
                "responses": {**_ok(204, None, "Deleted"), **_errors(400, 403, 404)},
            },
        },
        "/v2/accelerator_requests/{uuid}": {
            "get": {
                "operationId": "show_accelerator_request",
                "parameters": [_uuid_path()],
                "responses": {**_ok(200, _ref("AcceleratorRequest")), **_errors(403, 404)},
            },
            "patch": {
                "operationId": "bind_or_unbind_accelerator_request",
                "description": _BIND_DESCRIPTION,
                "parameters": [_uuid_path()],
                "requestBody": _body(arq_schema.PATCH),
                "responses": {
                    **_ok(202, None, "Accepted"),
                    **_errors(400, 403, 404, 406, 409, 503),
                },
            },
            "delete": {
                "operationId": "delete_accelerator_request",
                "parameters": [_uuid_path()],
                "responses": {**_ok(204, None, "Deleted"), **_errors(400, 403, 404)},
            },
        },
    }


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Cyborg-NG accelerator API",
            "version": str(microversion.MAX_VERSION),
            "description": (
                "API v2, compatible with OpenStack Cyborg (microversions "
                f"{microversion.MIN_VERSION} to {microversion.MAX_VERSION}, header "
                "'OpenStack-API-Version: accelerator 2.x'). Every list takes limit, marker, "
                "sort_key and sort_dir; a full page carries a 'next' link."
            ),
        },
        "paths": _paths(),
        "components": {"schemas": RESOURCES},
    }
