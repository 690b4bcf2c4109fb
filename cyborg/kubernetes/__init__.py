"""Kubernetes on the agent: the kubelet device plugin (and, later, the DRA driver).

The code here reads the host's inventory as the agent's resource tracker discovers it
(cyborg.agent.resource_tracker) and speaks the kubelet's gRPC APIs, whose stubs are
generated from ``protos/`` at install time (tools/generate-protos.py).
"""
