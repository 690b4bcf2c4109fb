"""Clients of the services Cyborg calls (Placement, Nova, Glance), over keystoneauth."""
