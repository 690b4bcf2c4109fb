"""What the kubelet plugin hears when a device cannot be handed to a pod."""


class DeviceRefused(Exception):
    """The devices of a ResourceClaim were not given to it; ``reason`` says why, in
    words the kubelet shows on the pod's events."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
