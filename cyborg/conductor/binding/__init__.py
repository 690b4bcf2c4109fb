"""Accelerator requests from creation to deletion: the binding wing.

Device profiles and the ARQs made from them, the binding state machine (Nova's binds
and standalone ones that Cyborg claims in Placement itself), its agent steps (FPGA
programming, vGPU mdevs), quota, unbinding and deleting, and the events owed to Nova.
"""
