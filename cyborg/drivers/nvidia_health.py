"""NVIDIA GPU health from ``nvidia-smi -q -x``, nvidia-smi's errors and XID events.

Pure functions over the captured texts (cyborg.agent.captures), so each rule is
tested on recorded outputs. The judgements, worst wins (state: gone when):

* ``ecc_errors/volatile/*uncorrectable*`` above 0 (``double_bit/total`` before
  R510): **fatal**, until the GPU is reset (the counters are since the driver
  loaded; the aggregate ones, kept across resets, do not count).
* ``retired_pages/pending_retirement`` or ``remapped_rows/remapped_row_pending``
  Yes: **unhealthy**, until the GPU is reset.
* ``remapped_rows/remapped_row_failure`` Yes: **fatal**;
  ``ecc_errors/aggregate/sram_threshold_exceeded`` Yes: **unhealthy**; both until the
  board is replaced.
* ``gpu_recovery_action`` Reset or Reboot: **fatal**; Drain P2P (any "Drain"):
  **unhealthy**; until nvidia-smi shows None.
* "GPU requires reset" or "GPU is lost" in the GPU's XML, or "Unable to determine
  the device handle" for its address on nvidia-smi's stderr: **fatal** (lost), until
  nvidia-smi opens it again. A GPU bound to ``nvidia`` that a parsed XML leaves out
  is lost too (the driver checks that).
* nvidia-smi failing for every GPU ("NVIDIA-SMI has failed because it couldn't
  communicate with the NVIDIA driver", "No devices were found"): every GPU bound to
  ``nvidia`` is **unhealthy** until it answers again (GPUs on ``vfio-pci`` are not
  judged).
* a fatal XID (``FATAL_XIDS``: 48, 61, 62, 64, 74, 79, 95, 119, 120, 140, and 154
  to a reset or reboot) within the window: **fatal**; an unhealthy one
  (``UNHEALTHY_XIDS``: 63, 92, 94, and 154 to a drain): **unhealthy**; for
  ``[gpu_devices] xid_window`` seconds after it was logged.

XIDs come from the kernel log, as ``NVRM: Xid (PCI:0000:3b:00): 79, pid=..., ...``
lines of the current boot (``journalctl -k -b -o short-unix``, or ``/dev/kmsg``
converted to that format by the capture). An XID is an event, not a state: it counts
for ``xid_window`` seconds after it was logged, and what it leaves behind that lasts
(uncorrectable counters, a lost GPU, a recovery action) keeps the GPU unhealthy
through the nvidia-smi rules above until the GPU is reset. Application faults (13,
31, 43, 45, ...) never count. The XID classes follow NVIDIA's Xid catalogue
(docs.nvidia.com/deploy/xid-errors): its RESET_GPU / RESTART_BM / CONTACT_SUPPORT
hardware events are fatal here, the "reset to activate" memory events unhealthy,
its RESTART_APP events ignored.
"""

import dataclasses
import datetime
import re
import xml.etree.ElementTree as ET

from cyborg.drivers.health import OK, Health, fatal, unhealthy, worst

FATAL_XIDS = {
    48: "double-bit ECC error",
    61: "internal micro-controller breakpoint",
    62: "internal micro-controller halt",
    64: "row remapping failure",
    74: "NVLink error",
    79: "GPU has fallen off the bus",
    95: "uncontained ECC error",
    119: "GSP RPC timeout",
    120: "GSP error",
    140: "unrecovered ECC error",
}
UNHEALTHY_XIDS = {
    63: "row remapping pending, reset the GPU",
    92: "high single-bit ECC error rate",
    94: "contained ECC error, reset the GPU",
}
RECOVERY_ACTION_XID = 154  # "GPU recovery action changed from 0x0 (None) to 0x1 (...)"

_XID_RE = re.compile(
    r"NVRM: Xid \((?:PCI:)?([0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2})\): (\d+),\s*(.*)$"
)
_UNIX_TIME_RE = re.compile(r"^\s*(\d{9,}(?:\.\d+)?)\s")
_ISO_TIME_RE = re.compile(
    r"^\s*(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)\s"
)
_ADDRESS_RE = re.compile(r"([0-9a-fA-F]{4,8}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])")
_LOST_WORDS = ("gpu requires reset", "gpu is lost", "fallen off the bus")


@dataclasses.dataclass(frozen=True)
class XidEvent:
    address: str  # "0000:3b:00": the kernel names the GPU without its function
    xid: int
    at: float  # unix time it was logged
    message: str


def _count(node: ET.Element | None, pattern: str) -> int:
    """The sum of the numeric children of ``node`` whose tag matches ``pattern``."""
    if node is None:
        return 0
    total = 0
    for child in node.iter():
        text = (child.text or "").strip()
        if child is not node and re.search(pattern, child.tag) and text.isdigit():
            total += int(text)
    return total


def _yes(node: ET.Element, path: str) -> bool:
    return (node.findtext(path) or "").strip().lower() == "yes"


def _lost_text(node: ET.Element) -> str | None:
    for element in node.iter():
        text = (element.text or "").strip()
        if any(word in text.lower() for word in _LOST_WORDS):
            return text
    return None


def _recovery_action(node: ET.Element) -> Health:
    action = (node.findtext("gpu_recovery_action") or "").strip()
    if action.lower() in ("", "none", "n/a"):
        return OK
    reason = f"nvidia-smi recovery action: {action}"
    return unhealthy(reason) if action.lower().startswith("drain") else fatal(reason)


def smi_health(node: ET.Element) -> Health:
    """What one ``<gpu>`` element of ``nvidia-smi -q -x`` says of the GPU's health."""
    lost = _lost_text(node)
    judgements = [fatal(f"GPU lost: {lost}") if lost else OK, _recovery_action(node)]
    volatile = node.find("ecc_errors/volatile")
    uncorrectable = _count(volatile, r"uncorrectable") + _count(
        volatile.find("double_bit") if volatile is not None else None, r"^total$"
    )
    if uncorrectable:
        judgements.append(fatal(f"{uncorrectable} uncorrectable ECC errors since the last reset"))
    if _yes(node, "ecc_errors/aggregate/sram_threshold_exceeded"):
        judgements.append(unhealthy("SRAM uncorrectable ECC errors over threshold"))
    if _yes(node, "remapped_rows/remapped_row_failure"):
        judgements.append(fatal("row remapping failed"))
    if _yes(node, "remapped_rows/remapped_row_pending"):
        judgements.append(unhealthy("row remapping pending, reset the GPU"))
    if _yes(node, "retired_pages/pending_retirement"):
        judgements.append(unhealthy("page retirement pending, reset the GPU"))
    return worst(*judgements)


def mig_health(node: ET.Element) -> Health:
    """A ``<mig_device>``'s own volatile uncorrectable SRAM errors."""
    errors = _count(node.find("ecc_error_count/volatile_count"), r"uncorrectable")
    if errors:
        return fatal(f"{errors} uncorrectable ECC errors in the MIG instance")
    return OK


def canonical_address(text: str) -> str | None:
    """Any PCI address nvidia-smi writes ("00000000:3B:00.0") as "0000:3b:00.0"."""
    match = _ADDRESS_RE.search(text)
    if not match:
        return None
    domain, bus, device, function = match.groups()
    return f"{domain[-4:]}:{bus}:{device}.{function}".lower()


def lost_gpus(stderr: str) -> dict[str, str]:
    """{address: nvidia-smi's words} for each GPU nvidia-smi could not open.

    nvidia-smi writes "Unable to determine the device handle for GPU0000:3B:00.0:
    Unknown Error" (later drivers: "... for GPU1: 0000:34:00.0: GPU is lost ...") on
    stderr; a line without an address names no GPU the driver can mark.
    """
    lost: dict[str, str] = {}
    for line in stderr.splitlines():
        lowered = line.lower()
        if "unable to determine the device handle" in lowered or any(
            w in lowered for w in _LOST_WORDS
        ):
            address = canonical_address(line)
            if address is not None:
                lost.setdefault(address, line.strip())
    return lost


def smi_failure(stderr: str) -> str | None:
    """nvidia-smi's words when it could open no GPU at all ("NVIDIA-SMI has failed
    because it couldn't communicate with the NVIDIA driver...", "No devices were
    found"): its XML, if any, is an older one, and no GPU the nvidia driver holds is
    usable."""
    for line in stderr.splitlines():
        if "has failed" in line or "no devices were found" in line.lower():
            return line.strip()
    return None


def _line_time(line: str) -> float | None:
    unix = _UNIX_TIME_RE.match(line)
    if unix:
        return float(unix.group(1))
    iso = _ISO_TIME_RE.match(line)
    if not iso:
        return None
    try:
        when = datetime.datetime.fromisoformat(iso.group(1).replace(",", "."))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp()


def parse_xids(text: str) -> list[XidEvent]:
    """The XID events of a kernel log in ``journalctl -o short-unix`` (or short-iso)
    format; a line without a timestamp is left out (it cannot be aged out)."""
    events = []
    for line in text.splitlines():
        match = _XID_RE.search(line)
        when = _line_time(line) if match else None
        if match and when is not None:
            address, xid, message = match.groups()
            events.append(XidEvent(address.lower(), int(xid), when, message.strip()))
    return events


def xid_judgement(event: XidEvent) -> Health:
    """How one XID event bears on its GPU (OK for an application's fault)."""
    label = f"XID {event.xid}"
    if event.xid in FATAL_XIDS:
        return fatal(f"{label}: {FATAL_XIDS[event.xid]}")
    if event.xid in UNHEALTHY_XIDS:
        return unhealthy(f"{label}: {UNHEALTHY_XIDS[event.xid]}")
    if event.xid == RECOVERY_ACTION_XID:
        target = event.message.rsplit(" to ", 1)[-1].lower()
        if "(none)" in target or " to " not in event.message:
            return OK
        reason = f"{label}: recovery action {event.message.rsplit(' to ', 1)[-1]}"
        return unhealthy(reason) if "drain" in target else fatal(reason)
    return OK


def xid_health(events: list[XidEvent], address: str, now: float, window: float) -> Health:
    """The judgement of the XIDs logged for the GPU at ``address`` in the last
    ``window`` seconds (the newest event's reason first). An event up to a window
    ahead of ``now`` counts too: the kernel's clock and the agent's may differ."""
    prefix = address.lower()[: len("0000:3b:00")]
    recent = sorted(
        (e for e in events if e.address == prefix and abs(now - e.at) <= window),
        key=lambda e: -e.at,
    )
    return worst(*(xid_judgement(e) for e in recent))
