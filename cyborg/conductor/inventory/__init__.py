"""What each host has: the inventory wing.

Agent reports and the diffs that store them, operators' changes to devices and
attributes, and programming an FPGA through its host's agent.
"""
