"""The graph-aware scheduler in the conductor: the plans wing.

Graphs uploaded and planned on the live inventory (the devices a profile and
constraints allow, as the scheduler's candidates), measurements that teach it, and
claims that bind a plan's devices.
"""
