"""Intel FPGA green bitstreams (``.gbs``, OPAE's format): read and write the header.

A GBS file is a 16-byte GUID (``XeonFPGA`` ``\\xb7GBSv001``), the length of the
metadata as a little-endian 32-bit integer, the metadata (JSON) and then the raw
bitstream. The metadata's ``afu-image`` names the partial-reconfiguration interface
the bitstream was built for (``interface-uuid``, the FME's ``compat_id``) and the
AFU it loads (``accelerator-clusters[0].accelerator-type-uuid``, the port's
``afu_id`` once loaded). OPAE's ``fpgaconf`` and ``packager`` use this layout.
"""

import dataclasses
import json
import struct
import uuid

GUID = bytes.fromhex("58656f6e46504741b747425376303031")
_LENGTH = struct.Struct("<I")
#: The metadata's magic number (OPAE's packager writes 0x1d1f8680).
MAGIC = 488605312


class InvalidGBS(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class GBSHeader:
    interface_uuid: str  # as written: a dashed UUID
    afu_uuid: str
    name: str


def build(interface_uuid: str, afu_uuid: str, name: str, payload: bytes) -> bytes:
    """A GBS file for ``payload`` with the metadata OPAE's packager writes."""
    metadata = {
        "version": 1,
        "platform-name": "DCP",
        "afu-image": {
            "magic-no": MAGIC,
            "interface-uuid": interface_uuid,
            "clock-frequency-high": 312,
            "clock-frequency-low": 156,
            "power": 50,
            "accelerator-clusters": [
                {"name": name, "total-contexts": 1, "accelerator-type-uuid": afu_uuid}
            ],
        },
    }
    encoded = json.dumps(metadata).encode()
    return GUID + _LENGTH.pack(len(encoded)) + encoded + payload


def _uuid(value: object, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as err:
        raise InvalidGBS(f"{what} is not a UUID") from err


def parse(data: bytes) -> GBSHeader:
    """The header of a GBS file's first bytes; InvalidGBS when it is not one."""
    if data[: len(GUID)] != GUID:
        raise InvalidGBS("not a GBS file (no GBS GUID)")
    start = len(GUID) + _LENGTH.size
    if len(data) < start:
        raise InvalidGBS("truncated GBS header")
    (length,) = _LENGTH.unpack(data[len(GUID) : start])
    try:
        metadata = json.loads(data[start : start + length])
        image = metadata["afu-image"]
        cluster = image["accelerator-clusters"][0]
        return GBSHeader(
            interface_uuid=_uuid(image["interface-uuid"], "interface-uuid"),
            afu_uuid=_uuid(cluster["accelerator-type-uuid"], "accelerator-type-uuid"),
            name=str(cluster.get("name", "")),
        )
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise InvalidGBS(f"unreadable GBS metadata ({type(err).__name__})") from err
