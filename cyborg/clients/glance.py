"""The Image API (Glance): where FPGA bitstreams are kept.

The agent downloads bitstreams (cyborg.agent.programming); the conductor finds the
image a device profile asks for at bind time (``accel:function_id`` is an image
property). Both reach Glance with the ``[glance]`` options, or the caller's token.
"""

from typing import Any

from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading
from keystoneauth1 import token_endpoint
from oslo_config import cfg

from cyborg.common import exception
from cyborg.common.context import RequestContext
from cyborg.conf import glance as glance_conf

FUNCTION_ID_PROPERTY = "accel:function_id"


def adapter(conf: cfg.ConfigOpts, context: RequestContext) -> ks_adapter.Adapter:
    """An adapter on the Image API from ``[glance]``; the caller's token if no auth is set.

    With no ``auth_type`` and a user token in the request context (the API's caller),
    the token is used, as upstream does; the endpoint must then come from
    ``[glance] endpoint_override``, as there is no service catalog to look it up in.
    """
    group = glance_conf.GROUP.name
    auth = ks_loading.load_auth_from_conf_options(conf, group)
    if auth is None and context.auth_token:
        auth = token_endpoint.Token(conf[group].endpoint_override, context.auth_token)
    session = ks_loading.load_session_from_conf_options(conf, group, auth=auth)
    return ks_loading.load_adapter_from_conf_options(conf, group, session=session, auth=auth)


def find_function_image(glance: ks_adapter.Adapter, function_id: str) -> str:
    """The one active image whose ``accel:function_id`` property is ``function_id``."""
    response = glance.get(
        "/v2/images",
        params={FUNCTION_ID_PROPERTY: function_id, "status": "active"},
        raise_exc=False,
    )
    if response.status_code != 200:
        raise exception.ImageLookupFailed(
            reason=f"Glance answered {response.status_code} to the image search"
        )
    images: list[dict[str, Any]] = response.json().get("images", [])
    matching = [i["id"] for i in images if i.get(FUNCTION_ID_PROPERTY) == function_id]
    if len(matching) != 1:
        raise exception.Invalid(
            reason=f"{len(matching)} active images have {FUNCTION_ID_PROPERTY}="
            f"{function_id}; exactly one is needed"
        )
    return matching[0]


def image_function_id(glance: ks_adapter.Adapter, image_uuid: str) -> str | None:
    """The image's ``accel:function_id`` property (None: it has none); ImageLookupFailed
    when Glance does not answer with the image."""
    try:
        response = glance.get(f"/v2/images/{image_uuid}", raise_exc=False)
    except ks_exc.ClientException as err:
        raise exception.ImageLookupFailed(reason=f"Glance is unreachable: {err}") from err
    if response.status_code != 200:
        raise exception.ImageLookupFailed(
            reason=f"Glance answered {response.status_code} for image {image_uuid}"
        )
    value = response.json().get(FUNCTION_ID_PROPERTY)
    return value if isinstance(value, str) and value.strip() else None
