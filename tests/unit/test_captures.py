"""The agent keeps vendor tool output where the drivers read it, never through a shell."""

import os
import pathlib
import stat

from cyborg.agent import captures


def _fake_tool(directory: pathlib.Path, name: str, script: str) -> None:
    tool = directory / name
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)


def test_outputs_land_where_the_drivers_read_them(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_tool(bin_dir, "nvidia-smi", 'echo "<nvidia_smi_log>$*</nvidia_smi_log>"\n')
    _fake_tool(
        bin_dir,
        "xbutil",
        'for a; do [ -n "$o" ] && echo "{}" > "$a" && o=; '
        '[ "$a" = --output ] && o=1; done; exit 0\n',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    root = tmp_path / "root"
    captures.capture(str(root), ["nvidia_gpu_driver", "xilinx_fpga_driver", "fake_driver"])
    out = root / captures.CAPTURE_DIR
    assert (out / "nvidia-smi-q-x.xml").read_text() == "<nvidia_smi_log>-q -x</nvidia_smi_log>\n"
    assert (out / "nvidia-smi-L.txt").read_text() == "<nvidia_smi_log>-L</nvidia_smi_log>\n"
    topo = (out / "nvidia-smi-topo-m.txt").read_text()
    assert topo == "<nvidia_smi_log>topo -m</nvidia_smi_log>\n"
    assert (out / "xbutil-examine.json").read_text() == "{}\n"


def test_missing_or_failing_tools_leave_earlier_output(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_tool(bin_dir, "nvidia-smi", "exit 9\n")
    monkeypatch.setenv("PATH", str(bin_dir))
    out = tmp_path / captures.CAPTURE_DIR
    out.mkdir(parents=True)
    (out / "nvidia-smi-q-x.xml").write_text("earlier")
    captures.capture(str(tmp_path), ["nvidia_gpu_driver", "xilinx_fpga_driver"])
    assert (out / "nvidia-smi-q-x.xml").read_text() == "earlier"
    assert not (out / "xbutil-examine.json").exists()


def test_nvidia_smi_stderr_is_kept_even_when_it_fails(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A lost GPU makes nvidia-smi fail: its XML stays the last good one, and its stderr
    (which names the lost GPU) is what the driver's health rule reads."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_tool(
        bin_dir,
        "nvidia-smi",
        'echo "Unable to determine the device handle for GPU0000:D8:00.0: Unknown Error" >&2\n'
        "exit 15\n",
    )
    monkeypatch.setenv("PATH", str(bin_dir))
    out = tmp_path / captures.CAPTURE_DIR
    out.mkdir(parents=True)
    (out / "nvidia-smi-q-x.xml").write_text("earlier")
    captures.capture(str(tmp_path), ["nvidia_gpu_driver"])
    assert (out / "nvidia-smi-q-x.xml").read_text() == "earlier"
    assert "GPU0000:D8:00.0" in (out / "nvidia-smi-q-x.stderr").read_text()
    _fake_tool(bin_dir, "nvidia-smi", 'echo "<nvidia_smi_log/>"\n')
    captures.capture(str(tmp_path), ["nvidia_gpu_driver"])
    assert (out / "nvidia-smi-q-x.stderr").read_text() == ""  # recovered


def test_xid_lines_from_a_file_source(tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "kern.log"
    source.write_text(
        "1764770400.1 h kernel: NVRM: Xid (PCI:0000:d8:00): 79, GPU has fallen off the bus.\n"
        "1764770400.2 h kernel: e1000e: eth0 NIC Link is Up\n"
    )
    captures.capture(str(tmp_path / "root"), ["nvidia_gpu_driver"], str(source))
    kept = (tmp_path / "root" / captures.CAPTURE_DIR / captures.XID_LOG).read_text()
    assert (
        kept
        == "1764770400.1 h kernel: NVRM: Xid (PCI:0000:d8:00): 79, GPU has fallen off the bus.\n"
    )
    source.unlink()  # unreadable now: what was kept stays
    captures.capture(str(tmp_path / "root"), ["nvidia_gpu_driver"], str(source))
    assert (tmp_path / "root" / captures.CAPTURE_DIR / captures.XID_LOG).read_text() == kept


def test_a_journal_source_runs_journalctl_for_this_boot(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_tool(
        bin_dir,
        "journalctl",
        'echo "not an XID: $*"\necho "1.0 h kernel: NVRM: Xid (PCI:0000:3b:00): 48, DBE $*"\n',
    )
    monkeypatch.setenv("PATH", str(bin_dir))
    captures.capture(str(tmp_path), ["nvidia_gpu_driver"], "journal", 900)
    kept = (tmp_path / captures.CAPTURE_DIR / captures.XID_LOG).read_text()
    assert kept == (
        "1.0 h kernel: NVRM: Xid (PCI:0000:3b:00): 48, DBE "
        "-k -b -o short-unix --no-pager --since=-900s\n"
    )


def test_an_unknown_xid_source_keeps_nothing_new(tmp_path) -> None:  # type: ignore[no-untyped-def]
    captures.capture(str(tmp_path), ["nvidia_gpu_driver"], "syslog")
    assert not (tmp_path / captures.CAPTURE_DIR / captures.XID_LOG).exists()


def test_kmsg_records_become_short_unix_lines() -> None:
    from cyborg.agent import kernel_log

    records = [
        b"4,1021,5000000,-;NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus.\n"
        b" SUBSYSTEM=pci\n",
        b"junk without fields",
    ]
    assert kernel_log.kmsg_lines(records, boot_time=1000.0) == [
        "1005.000000 localhost kernel: NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus."
    ]
