"""The generated gRPC stubs of the kubelet APIs, with a clear error when they are missing.

tools/generate-protos.py makes them at install time (tools/ensure-venv.sh runs it).
"""

try:
    from cyborg.kubernetes.protos import deviceplugin_v1beta1_pb2 as deviceplugin
    from cyborg.kubernetes.protos import deviceplugin_v1beta1_pb2_grpc as deviceplugin_grpc
    from cyborg.kubernetes.protos import dra_health_v1alpha1_pb2 as dra_health
    from cyborg.kubernetes.protos import dra_health_v1alpha1_pb2_grpc as dra_health_grpc
    from cyborg.kubernetes.protos import dra_v1_pb2 as dra
    from cyborg.kubernetes.protos import dra_v1_pb2_grpc as dra_grpc
    from cyborg.kubernetes.protos import pluginregistration_v1_pb2 as registration
    from cyborg.kubernetes.protos import pluginregistration_v1_pb2_grpc as registration_grpc
    from cyborg.kubernetes.protos import podresources_v1_pb2 as podresources
    from cyborg.kubernetes.protos import podresources_v1_pb2_grpc as podresources_grpc
except ModuleNotFoundError as err:  # pragma: no cover - depends on the install
    raise ImportError(
        "The kubelet gRPC stubs are not generated: run tools/generate-protos.py with the "
        "Python Cyborg is installed in (tools/ensure-venv.sh does it)"
    ) from err

#: The device plugin API version this plugin speaks (RegisterRequest.version).
DEVICE_PLUGIN_VERSION = "v1beta1"
HEALTHY = "Healthy"
UNHEALTHY = "Unhealthy"

__all__ = [
    "DEVICE_PLUGIN_VERSION",
    "HEALTHY",
    "UNHEALTHY",
    "deviceplugin",
    "deviceplugin_grpc",
    "dra",
    "dra_grpc",
    "dra_health",
    "dra_health_grpc",
    "podresources",
    "podresources_grpc",
    "registration",
    "registration_grpc",
]
