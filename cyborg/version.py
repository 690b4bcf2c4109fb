"""The package version, as pbr computes it from git or the installed metadata."""

import pbr.version

version_info = pbr.version.VersionInfo("openstack-cyborg-ng")


def version_string() -> str:
    return str(version_info.version_string())
