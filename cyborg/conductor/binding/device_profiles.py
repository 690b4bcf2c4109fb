"""Device profiles: created and deleted on the API's behalf."""

from collections.abc import Sequence

from cyborg.common import deadline, exception
from cyborg.common.context import RequestContext
from cyborg.objects import base
from cyborg.objects import device_profile as profile_obj


def create_device_profile(
    context: RequestContext,
    *,
    name: str,
    groups: list[dict[str, str]],
    description: str | None = None,
    uuid: str | None = None,
    project_id: str | None = None,
) -> str:
    uuid = uuid or base.new_uuid()
    deadline.note_result(context, uuid)  # stored with the insert, for a lost reply
    profile = profile_obj.create(
        context,
        name=name,
        groups=groups,
        description=description,
        uuid=uuid,
        project_id=project_id,
    )
    return profile.uuid


def delete_device_profiles(
    context: RequestContext,
    *,
    uuids: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    project_id: str | None = None,
) -> None:
    """Delete by names (all or none) or by uuids; ``project_id`` limits to its own."""
    if (uuids is None) == (names is None):
        raise exception.Invalid(reason="delete device profiles by uuids or by names")
    if names is not None:
        profile_obj.delete_by_names(context, names, visible_to_project=project_id)
        return
    # The API deletes one profile per request by uuid, so this loop runs once.
    for uuid in uuids or ():
        profile_obj.delete_by_uuid(context, uuid, visible_to_project=project_id)
