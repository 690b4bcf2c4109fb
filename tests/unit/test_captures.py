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
