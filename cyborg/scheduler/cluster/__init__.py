"""Cluster scheduling: which job gets which kind and number of accelerators, now.

The planner (:mod:`cyborg.scheduler.planner`) places one graph on given devices; this
package shares a heterogeneous fleet among many jobs. It is a pure library over
snapshots, in the steps one scheduling round takes:

- :mod:`.jobs`: the requests (a job type, a gang size or an elastic range, a weight,
  a project, the work left);
- :mod:`.estimates`: each job type's throughput per device model, measured by running
  jobs (an EWMA) or else estimated by the planner's cost model;
- :mod:`.policies`: an LP over the fraction of time each job spends on each device
  model (max total normalized throughput, max-min fairness, min average JCT);
- :mod:`.fleet`: the devices and their locality (host, ``pcieRoot``, NVLink peers);
- :mod:`.rounds`: one round's integral, all-or-nothing placements from the fractions,
  with time-sharing and a bound on how often a job moves;
- :mod:`.trace_replay`: a round-based replay of a job trace with any policy or the
  heterogeneity-blind FIFO baseline (``bench/cluster_sim.py`` prints its figures).
"""
