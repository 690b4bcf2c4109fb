"""Cluster-scheduling jobs (API microversion 2.9): the queue (``queue``: queued by the
API, cancelled by their owner) and its rounds (``rounds``: proposed devices for the
head of the queue, from the periodic task; nothing is bound)."""
