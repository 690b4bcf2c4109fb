"""Graph-aware placement of a model's operators onto accelerators.

Pure functions over snapshots: a :class:`~cyborg.scheduler.graph.Graph` (from ONNX or
the JSON graph format), a :class:`~cyborg.scheduler.devices.DeviceSet` (from the
conductor's inventory or the JSON device-set format) and learned cost factors go in, a
:class:`~cyborg.scheduler.plan.Plan` comes out. Nothing here reads configuration, the
database or the network; the conductor loads a plugin through stevedore (namespace
``cyborg.scheduler``, see :mod:`cyborg.scheduler.base`) and passes the candidates.

Module map: ``graph`` (the DAG), ``graph_json``/``onnx_import``/``op_costs`` (input and
per-operator FLOPs and bytes), ``devices``/``catalog``/``device_json`` (candidates),
``costs`` (the roofline + link cost model), ``factors`` (learned corrections:
one multiplier per op type and model), ``work_model`` (learned time against work),
``evaluate`` (schedule length, pipeline stage time, memory of one assignment),
``heft``/``pipeline``/``local_search``/``planner`` (the algorithms), ``replicas``
(data-parallel and hybrid plans: batch shares, the gradients' all-reduce), ``simulator``
(a discrete-event judge), ``exact`` (the CP-SAT oracle for small instances),
``base``/``first_fit``/``graph_aware`` (the plugins), ``plan`` (results and JSON) and
``synthetic``/``synthetic_training``/``synthetic_models`` (seeded graphs and devices).
"""
