"""`golden diagnose`: each signature found in its corpus snippet and nowhere it does not belong."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from builder import diagnose
from builder.errors import InputError

CORPUS = Path(__file__).parent.parent / "data" / "diagnose"
SIGNATURES = diagnose.load_signatures()


def corpus_for(sid: str) -> list[Path]:
    return sorted(CORPUS.glob(f"{sid}.log")) + sorted(CORPUS.glob(f"{sid}-*.log"))


def golden(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "builder", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("sig", SIGNATURES, ids=[s.id for s in SIGNATURES])
def test_each_signature_has_a_corpus_entry_that_yields_exactly_it(sig):
    files = corpus_for(sig.id)
    assert files, f"{sig.id} has no snippet in {CORPUS} ({sig.id}.log or {sig.id}-NAME.log)"
    for f in files:
        report = diagnose.diagnose_files(str(f), "file", [f], signatures=SIGNATURES)
        assert [x.signature.id for x in report.findings] == [sig.id], f.name
        assert all(h.text and h.line >= 1 for h in report.findings[0].hits)


def _absent() -> set[str]:
    every = {f"E{i}" for i in range(1, 39)}
    listed = {s.id for s in SIGNATURES} | {e["id"] for e in diagnose.not_in_logs()}
    return every - listed


def test_every_guide_case_e1_to_e38_is_a_signature_or_listed_as_not_in_logs():
    assert _absent() == set()
    listed = [s.id for s in SIGNATURES] + [e["id"] for e in diagnose.not_in_logs()]
    assert len(listed) == len(set(listed))


def test_line_numbers_point_at_the_matched_lines(tmp_path):
    log = tmp_path / "xend.log"
    log.write_text("ok\n" * 41 + "[2006-11-14 15:07:08 xend 3875] Bridge xenbr1 does not exist!\nok\n")
    report = diagnose.diagnose_path(log)
    (finding,) = report.findings
    assert finding.signature.id == "E9" and [h.line for h in finding.hits] == [42]
    assert report.read[0].source == "xend"


def test_a_clean_log_has_no_finding_and_exits_0(tmp_path):
    log = tmp_path / "serial.log"
    log.write_text((CORPUS.parent.parent / "data" / "diagnose" / "E21-qemu.log").read_text().split("\n")[0] + "\n"
                   "golden-installer: stage=installing\nreboot: Power down\n")
    run = golden("diagnose", str(log))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no known problem found" in run.stdout and str(log) in run.stdout


def test_source_kinds_keep_a_signature_to_its_logs(tmp_path):
    # An rtl8139 NIC is advice in qemu's command line; the same words on a console mean nothing.
    console = tmp_path / "serial.log"
    console.write_text('-device \'{"driver":"rtl8139","netdev":"hostnet0"}\'\n')
    assert diagnose.diagnose_path(console).findings == []


def test_advice_and_harmless_findings_exit_0_errors_exit_1():
    run = golden("diagnose", str(CORPUS / "E18.log"))
    assert run.returncode == 0 and "E18" in run.stdout
    run = golden("diagnose", str(CORPUS / "E9.log"))
    assert run.returncode == 1 and "E9" in run.stdout and "bridge=" in run.stdout


def test_json_shape():
    run = golden("diagnose", str(CORPUS / "E6.log"), "--json")
    assert run.returncode == 1, run.stderr
    data = json.loads(run.stdout)
    assert data["status"] == "problems-found" and data["kind"] == "file"
    (f,) = data["findings"]
    assert f["id"] == "E6" and f["severity"] == "error" and f["guide"]["section"]
    assert {"line", "text"} <= set(f["lines"][0]) and f["cause"] and f["fix"]
    assert data["read"][0]["file"] == str(CORPUS / "E6.log") and data["read"][0]["lines"] > 0


def test_a_folder_reads_its_logs_and_skips_disks_and_kickstarts(tmp_path):
    build = tmp_path / "demo.build"
    build.mkdir()
    (build / "serial.log").write_text((CORPUS / "G1-serial.log").read_text())
    (build / "virt-install.log").write_text("Starting install...\n")
    (build / "ks.cfg").write_text("rootpw --iscrypted $6$secret\n")
    (build / "disk0.qcow2").write_bytes(b"QFI\xfb" + bytes(4096))
    (build / "old.log").write_bytes(b"QFI\xfb" + bytes(4096))
    report = diagnose.diagnose_path(build)
    assert [f.signature.id for f in report.findings] == ["G1"]
    assert sorted(Path(r.path).name for r in report.read) == ["serial.log", "virt-install.log"]
    assert report.skipped == [{"file": str(build / "old.log"), "reason": "binary"}]


def test_missing_file_exits_2_and_a_binary_file_is_refused(tmp_path):
    run = golden("diagnose", str(tmp_path / "nope.log"))
    assert run.returncode == 2 and "nope.log" in run.stderr and "no such file" in run.stderr
    disk = tmp_path / "disk.qcow2"
    disk.write_bytes(b"QFI\xfb" + bytes(8192))
    with pytest.raises(InputError, match="binary"):
        diagnose.diagnose_path(disk)


def test_a_huge_log_is_read_from_its_tail_with_true_line_numbers(tmp_path):
    log = tmp_path / "xend.log"
    with open(log, "w") as f:
        f.write("Bridge xenbr7 does not exist!\n")          # beyond the cap: not read
        for _ in range(20000):
            f.write("DEBUG (DevController:143) Waiting for devices vif\n")
        f.write("Error: Device 0 (vif) could not be connected. Hotplug scripts not working.\n")
    report = diagnose.diagnose_path(log, max_bytes=64 << 10)
    (read,) = report.read
    assert read.from_byte > 0 and read.bytes_read <= 64 << 10
    (finding,) = report.findings
    assert [h.line for h in finding.hits] == [20002]


def test_a_bad_signature_file_names_the_field(tmp_path):
    bad = tmp_path / "sigs.yaml"
    bad.write_text("signatures:\n  - {id: X1, title: t, origin: guide, severity: fatal, sources: [xend],"
                   " cause: c, fix: f, match: {any: ['a']}}\n")
    with pytest.raises(InputError) as exc:
        diagnose.load_signatures(bad)
    assert "signatures[0].severity" in str(exc.value)


def test_the_readme_table_lists_every_signature_with_its_severity():
    readme = (Path(__file__).parent.parent.parent / "README.md").read_text()
    for s in SIGNATURES:
        assert f"| {s.id} | {s.title} | {s.severity} |" in readme, s.id


def test_keywords_skip_lines_without_them_but_alternations_still_match(tmp_path):
    assert diagnose.keyword(r"Bridge \S+ does not exist!") == " does not exist!"
    assert diagnose.keyword(r"foo|bar baz") is None          # no literal every match holds
    sig = diagnose.load_signatures()[0]
    alt = diagnose.Signature(id="X1", title="t", origin="golden", severity="error", sources=("console",),
                             cause="c", fix="f", any=(re.compile("disk (?:gone|lost)|no disk", re.IGNORECASE),))
    log = tmp_path / "serial.log"
    log.write_text("all well\nNo disk here\n")
    _, found = diagnose.scan_file(log, [sig, alt])
    assert [(f.signature.id, f.hits[0].line) for f in found] == [("X1", 2)]
