"""Cluster-scheduling jobs (API microversion 2.9): the queue (``queue``: queued by the
API, cancelled by their owner)."""
