"""The kubelet's gRPC APIs, as .proto files; the stubs beside them are generated.

Import them through cyborg.kubernetes.stubs, which says how to make them when missing.
"""
