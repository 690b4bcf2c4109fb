"""Placement kept in step with the inventory: the placement wing.

Each host's providers synced (change sets planned from pure functions), claims for
consumers Cyborg binds itself, and the sweep that gives back claims no ARQ recorded.
Imports no other wing.
"""
