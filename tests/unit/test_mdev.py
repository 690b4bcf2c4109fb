"""vGPU mdevs through sysfs (cyborg.agent.mdev, its privsep entrypoints, the agent side).

Every test works on a copy of the recorded T4 host (tests/fixtures/hosts/nvidia-t4-vgpu)
in a temporary directory. There ``create`` and ``remove`` are empty files: where the
kernel would make ``/sys/bus/mdev/devices/<uuid>`` and ``.../devices/<uuid>`` on a
write to ``create``, here the uuid just lands in the file and nothing else appears.
The tests read the file back, and play the kernel (``_kernel_made``) where a test needs
the mdev to exist afterwards.
"""

import functools
import os
import pathlib
import shutil
from collections.abc import Iterator

import pytest
from oslo_config import cfg

from cyborg.agent import mdev, privileged, vgpu
from cyborg.common import exception

FIXTURE = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "hosts" / "nvidia-t4-vgpu"
EMPTY_GPU = "0000:d8:00.0"  # no mdev yet; offers nvidia-222, -223, -234
BUSY_GPU = "0000:3b:00.0"  # holds two nvidia-223 mdevs
EXISTING = "f6b1a1c2-9e7d-4c41-b3a5-0d1e2f3a4b5c"  # one of them
UUID = "7c0ffee0-1234-4abc-8def-0123456789ab"


@pytest.fixture
def root(tmp_path: pathlib.Path) -> pathlib.Path:
    host = tmp_path / "host"
    shutil.copytree(FIXTURE, host, symlinks=True)
    return host


def _type_dir(root: pathlib.Path, parent: str, mdev_type: str = "nvidia-223") -> pathlib.Path:
    return root / "sys/class/mdev_bus" / parent / "mdev_supported_types" / mdev_type


def _kernel_made(root: pathlib.Path, parent: str, mdev_type: str, uuid: str) -> None:
    """What the kernel does after a write to ``create``: the mdev's directory, with its
    ``remove`` file, and the type's link to it."""
    device = root / "sys/class/mdev_bus" / parent / uuid
    device.mkdir()
    (device / "remove").write_text("")
    devices = _type_dir(root, parent, mdev_type) / "devices"
    devices.mkdir(exist_ok=True)
    (devices / uuid).symlink_to(f"../../../{uuid}")


def test_create_writes_the_uuid_to_the_types_create_file(root: pathlib.Path) -> None:
    assert mdev.create(str(root), EMPTY_GPU, "nvidia-223", UUID) is True
    assert (_type_dir(root, EMPTY_GPU) / "create").read_text() == UUID
    # Only that file: no other type's, no mdev directory (the kernel would make that).
    assert (_type_dir(root, EMPTY_GPU, "nvidia-222") / "create").read_text() == ""
    assert not (root / "sys/class/mdev_bus" / EMPTY_GPU / UUID).exists()


def test_names_are_normalised(root: pathlib.Path) -> None:
    assert mdev.create(str(root), EMPTY_GPU.upper(), "nvidia-223", UUID.upper()) is True
    assert (_type_dir(root, EMPTY_GPU) / "create").read_text() == UUID


def test_creating_an_mdev_that_exists_does_nothing(root: pathlib.Path) -> None:
    assert mdev.create(str(root), BUSY_GPU, "nvidia-223", EXISTING) is False
    assert (_type_dir(root, BUSY_GPU) / "create").read_text() == ""


def test_create_then_remove(root: pathlib.Path) -> None:
    mdev.create(str(root), EMPTY_GPU, "nvidia-234", UUID)
    _kernel_made(root, EMPTY_GPU, "nvidia-234", UUID)
    assert mdev.create(str(root), EMPTY_GPU, "nvidia-234", UUID) is False  # a repeat
    assert mdev.remove(str(root), EMPTY_GPU, "nvidia-234", UUID) is True
    assert (root / "sys/class/mdev_bus" / EMPTY_GPU / UUID / "remove").read_text() == "1"


def test_remove_writes_1_to_the_mdevs_remove_file(root: pathlib.Path) -> None:
    assert mdev.remove(str(root), BUSY_GPU, "nvidia-223", EXISTING) is True
    assert (root / "sys/class/mdev_bus" / BUSY_GPU / EXISTING / "remove").read_text() == "1"


@pytest.mark.parametrize(
    ("parent", "mdev_type"),
    [
        (BUSY_GPU, "nvidia-223"),  # no such mdev
        (BUSY_GPU, "nvidia-222"),  # type without a devices directory
        ("0000:99:00.0", "nvidia-223"),  # the GPU was taken out
    ],
)
def test_removing_an_mdev_that_is_gone_does_nothing(
    root: pathlib.Path, parent: str, mdev_type: str
) -> None:
    before = sorted(str(p) for p in root.rglob("*"))
    assert mdev.remove(str(root), parent, mdev_type, UUID) is False
    assert sorted(str(p) for p in root.rglob("*")) == before


def test_a_type_the_gpu_does_not_offer_is_refused(root: pathlib.Path) -> None:
    with pytest.raises(mdev.MdevError, match="offers no mdev type nvidia-999"):
        mdev.create(str(root), EMPTY_GPU, "nvidia-999", UUID)
    with pytest.raises(mdev.MdevError, match="offers no mdev type"):
        mdev.create(str(root), "0000:99:00.0", "nvidia-223", UUID)


def test_no_file_is_ever_created(root: pathlib.Path) -> None:
    """Without the kernel's ``create`` file, nothing is written (no O_CREAT)."""
    (_type_dir(root, EMPTY_GPU) / "create").unlink()
    with pytest.raises(mdev.MdevError, match="create failed"):
        mdev.create(str(root), EMPTY_GPU, "nvidia-223", UUID)
    assert not (_type_dir(root, EMPTY_GPU) / "create").exists()


def test_a_create_file_that_is_a_link_is_not_followed(
    root: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    create = _type_dir(root, EMPTY_GPU) / "create"
    create.unlink()
    create.symlink_to(victim)
    with pytest.raises(mdev.MdevError):
        mdev.create(str(root), EMPTY_GPU, "nvidia-223", UUID)
    assert victim.read_text() == "precious"


def test_a_type_directory_outside_the_tree_is_refused(
    root: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    outside = tmp_path / "elsewhere"
    shutil.copytree(_type_dir(root, EMPTY_GPU), outside)
    shutil.rmtree(_type_dir(root, EMPTY_GPU))
    _type_dir(root, EMPTY_GPU).symlink_to(outside)
    with pytest.raises(mdev.MdevError, match="outside the sysfs tree"):
        mdev.create(str(root), EMPTY_GPU, "nvidia-223", UUID)
    assert (outside / "create").read_text() == ""


@pytest.mark.parametrize(
    ("parent", "mdev_type", "uuid"),
    [
        ("../../../etc", "nvidia-223", UUID),
        ("0000:d8:00.0/..", "nvidia-223", UUID),
        ("0000:d8:00.0\n", "nvidia-223", UUID),
        ("d8:00.0", "nvidia-223", UUID),
        (None, "nvidia-223", UUID),
        (EMPTY_GPU, "..", UUID),
        (EMPTY_GPU, "../nvidia-223", UUID),
        (EMPTY_GPU, "nvidia 223", UUID),
        (EMPTY_GPU, "", UUID),
        (EMPTY_GPU, "nvidia-223\n", UUID),
        (EMPTY_GPU, "nvidia-223", "../../devices"),
        (EMPTY_GPU, "nvidia-223", UUID + "\n"),
        (EMPTY_GPU, "nvidia-223", UUID.replace("-", "")),
        (EMPTY_GPU, "nvidia-223", 42),
    ],
)
def test_anything_but_an_address_a_type_name_and_a_uuid_is_refused(
    root: pathlib.Path, parent: object, mdev_type: object, uuid: object
) -> None:
    for operation in (mdev.create, mdev.remove):
        with pytest.raises(ValueError, match="not a"):
            operation(str(root), parent, mdev_type, uuid)  # type: ignore[arg-type]
    assert (_type_dir(root, EMPTY_GPU) / "create").read_text() == ""


# --- the privsep entrypoints, run in this process (the context in server mode) ---------


@pytest.fixture
def in_process(root: pathlib.Path) -> Iterator[pathlib.Path]:
    """The entrypoints run here, reading [agent] sysfs_root from the global CONF as the
    daemon does (privsep-helper parses the agent's config files into it)."""
    cfg.CONF.set_override("sysfs_root", str(root), group="agent")
    privileged.context.set_client_mode(False)
    try:
        yield root
    finally:
        privileged.context.set_client_mode(True)
        cfg.CONF.clear_override("sysfs_root", group="agent")


def test_the_entrypoints_belong_to_the_context() -> None:
    assert privileged.context.is_entrypoint(privileged.create_mdev)
    assert privileged.context.is_entrypoint(privileged.remove_mdev)


def test_the_entrypoints_write_under_the_daemons_sysfs_root(in_process: pathlib.Path) -> None:
    assert privileged.create_mdev(EMPTY_GPU, "nvidia-222", UUID) is True
    assert (_type_dir(in_process, EMPTY_GPU, "nvidia-222") / "create").read_text() == UUID
    assert privileged.remove_mdev(BUSY_GPU, "nvidia-223", EXISTING) is True
    with pytest.raises(ValueError, match="not a PCI address"):
        privileged.create_mdev("../..", "nvidia-222", UUID)


# --- the agent side: errors as the conductor gets them ---------------------------------


def _mdevs(root: pathlib.Path) -> vgpu.Mdevs:
    return vgpu.Mdevs(
        "gpu-host",
        create=functools.partial(mdev.create, str(root)),
        remove=functools.partial(mdev.remove, str(root)),
    )


def test_the_agent_creates_and_removes(root: pathlib.Path) -> None:
    mdevs = _mdevs(root)
    mdevs.create(EMPTY_GPU, "nvidia-223", UUID)
    assert (_type_dir(root, EMPTY_GPU) / "create").read_text() == UUID
    mdevs.remove(BUSY_GPU, "nvidia-223", EXISTING)
    mdevs.remove(BUSY_GPU, "nvidia-223", UUID)  # gone: no error


def test_a_bad_name_is_a_400_before_the_daemon_is_asked(root: pathlib.Path) -> None:
    def daemon(*args: str) -> bool:
        raise AssertionError("the daemon was asked")

    mdevs = vgpu.Mdevs("gpu-host", create=daemon, remove=daemon)
    with pytest.raises(exception.InvalidParameterValue) as caught:
        mdevs.create(EMPTY_GPU, "../nvidia-223", UUID)
    assert caught.value.code == 400


def test_a_refusal_names_the_mdev_and_host_but_no_path(root: pathlib.Path) -> None:
    with pytest.raises(exception.VGPUMdevError) as caught:
        _mdevs(root).create(EMPTY_GPU, "nvidia-999", UUID)
    assert caught.value.code == 409
    assert caught.value.message == (
        f"Creating vGPU mdev {UUID} on {EMPTY_GPU} of host gpu-host failed: "
        f"{EMPTY_GPU} offers no mdev type nvidia-999"
    )
    assert str(root) not in caught.value.message and os.sep + "sys" not in caught.value.message


def test_a_daemon_failure_is_reported_without_its_details(root: pathlib.Path) -> None:
    def broken(*args: str) -> bool:
        raise RuntimeError("privsep daemon died")

    with pytest.raises(exception.VGPUMdevError, match="see the agent's log"):
        vgpu.Mdevs("gpu-host", create=broken, remove=broken).remove(EMPTY_GPU, "nvidia-223", UUID)
