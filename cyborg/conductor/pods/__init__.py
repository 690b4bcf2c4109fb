"""Devices handed to Kubernetes pods: the pods wing.

A ResourceClaim's devices are claimed in the database and in Placement (consumer type
``POD``), so that a device has one owner, a VM or a pod, and Nova sees a pod's device
as used. Imports the placement wing's client helpers and cyborg.objects, no other wing.
"""
