"""The watchdog's decisions, on libvirt's test:///default driver (API paths only).

The real thing (a hung %post under qemu) is a system test.
"""

from __future__ import annotations

import pytest

from builder.virt.watchdog import Outcome, SerialTail, Snapshot, Watchdog, WriteActivity

libvirt = pytest.importorskip("libvirt")

XML = """<domain type='test'><name>{name}</name><memory>65536</memory>
<os><type>hvm</type></os><devices><disk type='file' device='disk'><source file='/tmp/golden-wd-{name}.img'/>
<target dev='vda' bus='virtio'/></disk></devices></domain>"""


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def dom(request):
    conn = libvirt.open("test:///default")
    name = request.node.name[:40].replace("[", "").replace("]", "")
    d = conn.createXML(XML.format(name=name), 0)
    yield d
    try:
        d.destroy()
    except libvirt.libvirtError:
        pass
    conn.close()


def make(dom, tmp_path, **kw):
    log = tmp_path / "serial.log"
    log.write_text("")
    clock = Clock()
    # The test driver's block counters follow the wall clock; pass disks only where wanted.
    wd = Watchdog(dom, log, timeout=kw.get("timeout", 600), inactivity=kw.get("inactivity", 60),
                  disk_targets=kw.get("disks", []), clock=clock)
    return wd, log, clock


def test_progress_and_stage(dom, tmp_path):
    wd, log, clock = make(dom, tmp_path)
    log.write_text("Linux version 6.1\ngolden-installer: stage=partitioning\n")
    clock.now += 5
    snap = wd.poll()
    assert isinstance(snap, Snapshot) and snap.stage == "partitioning" and snap.idle_for == 0


def test_failure_line_fails_fast(dom, tmp_path):
    wd, log, clock = make(dom, tmp_path)
    log.write_text("golden-installer: FAILED: unsupported kickstart directive 'raid' at line 9\n")
    out = wd.poll()
    assert isinstance(out, Outcome) and out.status == "failed"
    assert "raid" in out.reason and out.last_lines


def test_quiet_guest_is_hung(dom, tmp_path):
    wd, log, clock = make(dom, tmp_path, inactivity=60)
    log.write_text("golden-installer: stage=post\n")
    assert isinstance(wd.poll(), Snapshot)
    clock.now += 59
    assert isinstance(wd.poll(), Snapshot)
    clock.now += 2
    out = wd.poll()
    assert out.status == "hung" and "inactivity limit 60 s" in out.reason and out.stage == "post"


def test_disk_writes_count_as_activity(dom, tmp_path):
    wd, log, clock = make(dom, tmp_path, inactivity=60, disks=["vda"])
    first = wd.poll()
    assert isinstance(first, Snapshot) and first.disk_bytes_written > 0


def test_output_resets_inactivity_and_timeout_still_applies(dom, tmp_path):
    wd, log, clock = make(dom, tmp_path, inactivity=60, timeout=200)
    for step in range(4):
        clock.now += 50
        with open(log, "a") as f:
            f.write(f"still working {step}\n")
        result = wd.poll()
    assert result.status == "timeout"


def test_power_off_is_completion(dom, tmp_path):
    wd, log, clock = make(dom, tmp_path)
    log.write_text("golden-installer: result=ok\n")
    dom.destroy()
    out = wd.poll()
    assert out.ok and out.status == "completed"


def test_power_off_after_failure_line_is_failure(dom, tmp_path):
    wd, log, clock = make(dom, tmp_path)
    log.write_text("Kernel panic - not syncing: VFS: Unable to mount root fs\n")
    dom.destroy()
    out = wd.poll()
    assert out.status == "failed" and "VFS" in out.reason


def test_serial_tail_handles_partial_lines_and_escapes(tmp_path):
    log = tmp_path / "s.log"
    log.write_bytes(b"\x1b[2Jhello\r\nwor")
    tail = SerialTail(log)
    assert tail.read() == ["hello"]
    with open(log, "ab") as f:
        f.write(b"ld\n")
    assert tail.read() == ["world"]


# --- what counts as writing ------------------------------------------------

def test_an_installer_at_work_is_writing():
    w = WriteActivity()
    assert w.update(0.0, 0) is False
    assert w.update(1.0, 4 << 20) is True          # 4 MiB in a second
    assert w.update(2.0, 4 << 20) is False         # nothing new this poll
    assert w.update(3.0, (4 << 20) + 4096) is True  # a little more, right after a lot


def test_background_trickle_is_not_activity():
    # A hung installer's kernel: journal commits and ext4 lazy inode-table
    # init, tens of KiB every half minute (measured on a hung demo %post).
    w = WriteActivity()
    written = 100 << 20
    w.update(0.0, written)
    now = 0.0
    for burst in (49152, 77824, 12288, 49152, 77824):
        now += 31.0
        written += burst
        assert w.update(now, written) is False, f"{burst} B at {now} s"


def test_steady_small_writes_add_up_within_the_window():
    w = WriteActivity(window=30.0, floor=256 << 10)
    results = [w.update(float(t), t * (16 << 10)) for t in range(1, 30)]   # 16 KiB/s
    assert results[:15] == [False] * 15 and all(results[16:])

