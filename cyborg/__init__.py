"""Cyborg-NG: accelerator management for OpenStack clouds."""
