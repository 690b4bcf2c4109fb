"""The agent's DRA kubelet plugin: one per DRA driver name the host's inventory has.

The kubelet finds each plugin through its registration socket (``registration``),
dials its ``dra.sock`` and calls NodePrepareResources before a pod that holds a
ResourceClaim of the driver starts, NodeUnprepareResources after it ended
(``servicers``, ``preparer``), and watches the devices' health (``health``). What a
plugin prepared survives a restart in its checkpoint (``checkpoint``); each prepared
claim has its own CDI spec (``claim_cdi``). ``plugins`` runs them for the agent.
"""
