"""`golden report`: the HTML page of a published and a failed build, parsed back with lxml.

The inspect, customize and seal parts of the records come from the real image
layer (tests/report_records.py), so the page is checked against the structures
a build really records.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import lxml.html
import pytest

from builder.errors import InputError
from builder.report import render_report
from tests import report_records as rr


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict:
    return rr.image_reports(tmp_path_factory.mktemp("guest"))


@pytest.fixture
def published(tmp_path, reports) -> tuple[Path, dict]:
    build = tmp_path / "images" / "rhel7-golden.build"
    record = rr.published_build(build, reports)
    (build / "clones.json").write_text(json.dumps(rr.clones_record(record["image"]["sha256"],
                                                                   record["image"]["path"])))
    return build, record


@pytest.fixture
def failed(tmp_path) -> tuple[Path, dict]:
    build = tmp_path / "images" / "rhel7-broken.build"
    return build, rr.failed_build(build)


def page(build: Path, **kw):
    out = render_report(build, **kw)
    return lxml.html.fromstring(out.read_bytes()), out


def txt(el) -> str:
    return " ".join(el.text_content().split())


def one(doc, xpath: str):
    found = doc.xpath(xpath)
    assert len(found) == 1, f"{xpath}: {len(found)} matches"
    return found[0]


def fact(doc, label: str) -> str:
    return txt(one(doc, f'.//table[@class="facts"]//tr[th="{label}"]/td'))


def table_rows(table) -> list[dict[str, str]]:
    heads = [txt(th) for th in table.xpath("./thead/tr/th")]
    return [dict(zip(heads, (txt(td) for td in tr.xpath("./td")))) for tr in table.xpath("./tbody/tr")]


# ---- a published build ------------------------------------------------------------------

def test_header_shows_status_profile_os_accelerator_and_connection(published):
    build, record = published
    doc, out = page(build)
    assert out == build / "report.html"
    assert txt(one(doc, '//*[@id="status"]')) == "PUBLISHED"
    assert "published" in one(doc, '//*[@id="status"]').get("class")
    assert txt(one(doc, "//title")).startswith("PUBLISHED: rhel7-golden")
    assert fact(doc, "Profile").startswith("/srv/profiles/rhel7-golden.yaml")
    assert "extends rhel.yaml" in fact(doc, "Profile")
    assert fact(doc, "OS").startswith("Red Hat Enterprise Linux 7.9")
    assert fact(doc, "Accelerator").startswith("TCG")
    assert fact(doc, "Connection") == "qemu:///system"
    assert record["image"]["sha256"] == fact(doc, "Image sha256")
    assert not doc.xpath('//*[@id="failure"]')


def test_timeline_bars_are_proportional_and_cached_stages_marked(published):
    build, record = published
    doc, _ = page(build)
    total = sum(s["seconds"] for s in record["stages"])
    bars = {}
    for track, name in zip(doc.xpath('//div[@class="track"]'), doc.xpath("//div[@data-stage]/@data-stage")):
        bar = track.xpath("./div")[0]
        style = dict(re.findall(r"(left|width):\s*([\d.]+)%", bar.get("style")))
        bars[name] = (float(style["left"]), float(style["width"]), bar.get("class"))
    assert list(bars) == [s["name"] for s in record["stages"]]
    install = next(s for s in record["stages"] if s["name"] == "install")
    assert bars["install"][1] == pytest.approx(100 * install["seconds"] / total, abs=0.01)
    # Stages follow each other on one time line.
    assert bars["inspect"][0] == pytest.approx(bars["install"][0] + bars["install"][1], abs=0.02)
    assert bars["publish"][0] + bars["publish"][1] == pytest.approx(100, abs=0.02)
    assert "cached" in bars["media"][2]
    assert txt(one(doc, '//*[@data-stage-status="media"]')) == "cached"
    assert txt(one(doc, '//*[@data-stage-seconds="install"]')) == "5 min 00 s"
    assert txt(one(doc, '//*[@data-stage-seconds="seal"]')) == "20.0 s"
    assert "1 stage reused from the cache" in txt(one(doc, '//section[@id="timeline"]'))


def test_artifacts_table_lists_checksums_and_sizes(published):
    build, record = published
    doc, _ = page(build)
    rows = {r["kind"]: r for r in table_rows(one(doc, '//section[@id="artifacts"]//table'))}
    for a in record["artifacts"]:
        assert (a["sha256"] or "not hashed") in rows[a["kind"]]["sha256"]
        assert a["path"] in rows[a["kind"]]["file"]
    assert rows["image"]["size"] == "31.7 MiB"
    assert rows["disk"]["size"] == "2.0 GiB"
    assert rows["kickstart"]["size"] == f"{(build / 'ks.cfg').stat().st_size} B"


def test_inspect_tables_show_the_real_inspect_report(published):
    build, record = published
    doc, _ = page(build)
    inspect = record["inspect"]
    sec = one(doc, '//section[@id="inspect"]')
    assert "Red Hat Enterprise Linux Server 7.9 (Maipo)" in fact(sec, "Operating system")
    assert fact(sec, "Hostname").startswith(rr.GUEST["hostname"])
    assert "from /etc/hostname" in fact(sec, "Hostname")
    parts = table_rows(one(doc, '//table[@id="partitions"]'))
    assert [p["device"] for p in parts] == [p["device"] for p in inspect["partitions"]]
    assert parts[0]["boot"] == "yes" and parts[0]["size"] == "256.0 MiB"
    fss = {f["device"]: f for f in table_rows(one(doc, '//table[@id="filesystems"]'))}
    assert fss["/dev/sda3"]["uuid"] == rr.GUEST["root_uuid"] and fss["/dev/sda3"]["mounted at"] == "/"
    assert fss["/dev/sda1"]["mounted at"] == "/boot" and fss["/dev/sda2"]["mounted at"] == "swap"
    assert table_rows(one(doc, '//table[@id="kernels"]'))[0]["version"] == rr.GUEST["kernel"]
    ifcfg = table_rows(one(doc, '//table[@id="ifcfg"]'))
    eth0 = next(r for r in ifcfg if r["DEVICE"] == "eth0")
    assert eth0["HWADDR"] == rr.GUEST["mac"].upper()
    assert eth0["IPADDR"] == rr.GUEST["ip"] and eth0["NETMASK"] == "/24"
    assert eth0["UUID"] == rr.GUEST["ifcfg_uuid"]
    pinned = [txt(td) for td in doc.xpath('//table[@id="ifcfg"]//td[contains(@class, "pinned")]')]
    assert rr.GUEST["mac"].upper() in pinned and rr.GUEST["ifcfg_uuid"] in pinned
    assert fact(sec, "machine-id").startswith(f"set: {rr.GUEST['machine_id']}")
    keys = table_rows(one(doc, '//table[@id="ssh-host-keys"]'))
    assert sorted(k["fingerprint"] for k in keys) == sorted(k["fingerprint"]
                                                           for k in inspect["identity"]["ssh_host_keys"])
    findings = [txt(li) for li in doc.xpath('//ul[@id="findings"]/li')]
    assert findings == inspect["findings"] and findings


def test_seal_section_lists_what_each_operation_changed(published):
    build, record = published
    doc, _ = page(build)
    ops = record["seal"]["operations"]
    changed = [o for o in ops if o["changes"]]
    assert len(changed) >= 5
    for op in ops:
        box = one(doc, f'//section[@id="seal"]//div[@data-op="{op["name"]}"]')
        assert op["result"] in txt(box)
        if op["changes"]:
            rows = table_rows(box.xpath(".//table")[0])
            assert [(r["action"], r["path"]) for r in rows] == [(c["action"], c["path"]) for c in op["changes"]]
        else:
            assert "unchanged" in box.get("class")
    summary = txt(one(doc, '//section[@id="seal"]/p'))
    assert f"{len(changed)} of {len(ops)} operations changed something" in summary
    ssh = one(doc, '//section[@id="seal"]//div[@data-op="ssh-hostkeys"]')
    assert "/etc/ssh/ssh_host_ed25519_key" in txt(ssh)


def test_customize_section_lists_the_steps(published):
    build, record = published
    doc, _ = page(build)
    host = one(doc, '//section[@id="customize"]//div[@data-op="hostname"]')
    assert "name=web-golden" in txt(host)
    assert ("rewritten", "/etc/hostname") in [(r["action"], r["path"]) for r in table_rows(host.xpath(".//table")[0])]
    motd = one(doc, '//section[@id="customize"]//div[@data-op="write"]')
    assert "/etc/motd" in txt(motd) and "created" in txt(motd)


def test_clones_show_identities_and_verification(published):
    build, _ = published
    doc, _ = page(build)
    sec = one(doc, '//section[@id="clones"]')
    assert "made from this build's image" in txt(sec)
    assert "1 verified, 1 failed verification, 1 not verified" in txt(sec)
    verdicts = {tr.get("data-clone"): txt(tr.xpath('.//span[contains(@class, "verdict")]')[0])
                for tr in sec.xpath(".//tr[@data-clone]")}
    assert verdicts == {"web-1": "verified", "web-2": "verification FAILED", "web-3": "not verified"}
    web2 = one(sec, './/tr[@data-clone="web-2"]')
    assert "is shared with web-1" in txt(web2)
    assert [txt(d) for d in web2.xpath('.//div[@class="mismatch"]')] == ["hostname rhel7-golden"]
    assert "uuid 11111111-2222-4333-8444-555555555501" in txt(one(sec, './/tr[@data-clone="web-1"]'))


def test_clones_of_another_image_are_flagged(published):
    build, record = published
    (build / "clones.json").write_text(json.dumps(rr.clones_record("0" * 64, record["image"]["path"])))
    doc, _ = page(build)
    assert "made from a different image" in txt(one(doc, '//section[@id="clones"]'))


def test_tool_versions(published):
    build, record = published
    doc, _ = page(build)
    sec = one(doc, '//section[@id="tools"]')
    for tool, version in record["tools"].items():
        assert fact(sec, tool) == version


# ---- a failed build -----------------------------------------------------------------------

def test_failed_build_shows_error_hint_screenshot_and_serial_tail(failed):
    build, record = failed
    doc, _ = page(build)
    assert txt(one(doc, '//*[@id="status"]')) == "FAILED"
    box = one(doc, '//section[@id="failure"]')
    assert "in stage install" in txt(box.xpath("./h2")[0])
    assert txt(one(doc, '//*[@id="failure-message"]')) == record["failure"]["message"]
    assert record["failure"]["hint"] in txt(one(doc, '//*[@id="failure-hint"]'))
    assert "exit code 4 (install failed or hung)" in txt(box)
    img = one(doc, '//img[@id="screenshot"]')
    prefix = "data:image/png;base64,"
    assert img.get("src").startswith(prefix)
    assert base64.b64decode(img.get("src")[len(prefix):]) == (build / "screenshot.png").read_bytes()
    assert (img.get("width"), img.get("height")) == ("320", "200")
    lines = one(doc, '//pre[@id="serial-tail"]').text_content().splitlines()
    assert len(lines) == 40
    assert lines[-4:] == ["golden-installer: stage=post", "<script>alert(1)</script>",
                          "red text & <b>not bold</b>", "progress 99%"]
    assert lines[0] == "[    64.000000] boot line 64"
    # The serial log is text: nothing in it became an element.
    assert not doc.xpath("//script") and not doc.xpath("//pre//*")
    # The failure comes first, right under the header.
    sections = [s.get("id") for s in doc.xpath("//main/section")]
    assert sections[0] == "failure" and sections[1] == "timeline"


def test_failed_build_sections_it_did_not_reach(failed):
    build, _ = failed
    doc, _ = page(build)
    for section in ("inspect", "customize", "seal"):
        assert f"did not reach the {section} stage" in txt(one(doc, f'//section[@id="{section}"]'))
    assert txt(one(doc, '//*[@data-stage-status="install"]')) == "FAILED"
    assert txt(one(doc, '//*[@data-stage-status="publish"]')) == "not run"


def test_serial_tail_from_the_record_when_the_log_is_gone(failed):
    build, record = failed
    (build / "serial.log").unlink()
    doc, _ = page(build)
    lines = one(doc, '//pre[@id="serial-tail"]').text_content().splitlines()
    assert lines[-1] == "progress 99%" and len(lines) == 40
    assert "saved in build.json" in txt(one(doc, '//section[@id="failure"]'))


def test_a_screenshot_that_is_not_a_png_is_not_embedded(failed):
    build, _ = failed
    (build / "screenshot.png").write_bytes(b"<html><script>alert(2)</script></html>")
    doc, out = page(build)
    assert not doc.xpath("//img")
    assert "screenshot.png is not a PNG image" in txt(one(doc, '//section[@id="failure"]'))
    assert b"alert(2)" not in out.read_bytes()


# ---- escaping, secrets, self-containment -------------------------------------------------------

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_markup_in_any_field_is_shown_as_text(failed):
    build, record = failed
    record["name"] = "n" + EVIL
    record["profile"]["path"] = "/p/" + EVIL
    record["stages"][2]["detail"] = "d" + EVIL
    record["failure"]["message"] = "m" + EVIL
    record["failure"]["hint"] = "h" + EVIL
    record["tools"]["qemu"] = "q" + EVIL
    record["connect"] = 'qemu+ssh://h/system"><script>alert(3)</script>'
    record["customize"] = {"dry_run": False, "operations": [
        {"op": "write", "path": "/etc/motd", "content": EVIL,
         "changes": [{"path": "/etc/" + EVIL, "action": "created", "detail": EVIL}], "result": "changed"}]}
    rr.write_record(build, record)
    (build / "clones.json").write_text(json.dumps({"source": EVIL, "source_sha256": None, "clones": [
        {"name": EVIL, "uuid": EVIL, "macs": [EVIL], "hostname": EVIL, "disk": EVIL, "linked": True,
         "verified": {"ok": False, "observed": {"hostname": EVIL}, "problems": [EVIL]}}]}))
    doc, _ = page(build)
    assert not doc.xpath("//script")
    assert len(doc.xpath("//img")) == 1 and doc.xpath("//img/@id") == ["screenshot"]
    assert not [a for el in doc.iter() if isinstance(el.tag, str) for a in el.attrib if a.startswith("on")]
    body = doc.text_content()
    assert body.count('<script>alert("x")</script>') >= 10
    assert "alert(3)" in fact(doc, "Connection")


def test_page_is_self_contained(published, failed):
    for build in (published[0], failed[0]):
        doc, out = page(build)
        html = out.read_text()
        assert not doc.xpath("//script | //link | //iframe | //object | //embed | //base | //form")
        refs = doc.xpath("//@src | //@href | //@action | //@srcset")
        assert refs and all(r.startswith(("data:", "#")) for r in refs), refs
        assert "url(" not in html and "@import" not in html
        csp = one(doc, '//meta[@http-equiv="Content-Security-Policy"]').get("content")
        assert "default-src 'none'" in csp


def test_nothing_else_in_the_build_dir_is_read(failed, tmp_path):
    build, record = failed
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.log").write_text("OUTSIDE-SECRET serial line\n")
    (outside / "other.png").write_bytes(rr.screenshot_png(64, 64))
    # build.json may name any path; the report reads the build directory's own files only.
    record["failure"]["serial_log"] = str(outside / "secret.log")
    record["failure"]["screenshot"] = str(outside / "other.png")
    rr.write_record(build, record)
    (build / "secrets.txt").write_text("PLAINTEXT-PASSWORD\n")
    doc, out = page(build)
    html = out.read_text()
    for secret in ("OUTSIDE-SECRET", "PLAINTEXT-PASSWORD", "KICKSTARTSECRETHASH", "<secret: file"):
        assert secret not in html
    src = one(doc, '//img[@id="screenshot"]').get("src")
    assert base64.b64decode(src.split(",", 1)[1]) == (build / "screenshot.png").read_bytes()


def test_same_records_give_the_same_bytes(published):
    build, _ = published
    first = render_report(build).read_bytes()
    assert render_report(build).read_bytes() == first


# ---- other states ----------------------------------------------------------------------------

def test_running_or_killed_build(failed):
    build, record = failed
    record["status"] = "running"
    record["failure"] = None
    record["stages"][3]["status"] = "running"
    rr.write_record(build, record)
    doc, _ = page(build)
    assert txt(one(doc, '//*[@id="status"]')) == "RUNNING"
    assert "or it was killed" in txt(one(doc, '//header'))
    assert not doc.xpath('//*[@id="failure"]')


def test_up_to_date_build(published):
    build, record = published
    record["status"] = "up-to-date"
    for s in record["stages"]:
        s["status"], s["seconds"] = "cached", 0.0
    rr.write_record(build, record)
    doc, _ = page(build)
    assert txt(one(doc, '//*[@id="status"]')) == "UP TO DATE"
    assert len(doc.xpath('//div[contains(@class, "bar") and contains(@class, "cached")]')) == len(record["stages"])
    assert "8 stages reused from the cache" in txt(one(doc, '//section[@id="timeline"]'))


def test_customize_in_the_manifest_list_form(published):
    build, record = published
    record["customize"] = [{"op": "hostname", "detail": "web-golden", "changed": ["/etc/hostname"]}]
    rr.write_record(build, record)
    doc, _ = page(build)
    box = one(doc, '//section[@id="customize"]//div[@data-op="hostname"]')
    assert "/etc/hostname" in txt(box) and "changed" in txt(box)


def test_a_damaged_clones_json_does_not_stop_the_report(published):
    build, _ = published
    (build / "clones.json").write_text('{"clones": [')
    doc, _ = page(build)
    assert "clones.json could not be read" in txt(one(doc, '//section[@id="clones"]'))
    assert txt(one(doc, '//*[@id="status"]')) == "PUBLISHED"


# ---- the command ------------------------------------------------------------------------------

def test_command_writes_build_dir_report_or_out(golden, published, tmp_path):
    build, _ = published
    run = golden("report", build)
    assert run.code == 0, run.err
    assert str(build / "report.html") in run.out
    assert lxml.html.fromstring((build / "report.html").read_bytes()).xpath('//*[@id="status"]')
    (build / "report.html").unlink()
    out = tmp_path / "site" / "deep" / "rhel7.html"
    run = golden("report", build, "-o", out, "--json")
    assert run.code == 0, run.err
    assert json.loads(run.out) == {"report": str(out)}
    assert out.is_file() and not (build / "report.html").exists()
    assert not list(out.parent.glob(".*.tmp")) and not list(build.glob(".*.tmp"))


def test_open_hands_the_page_to_the_browser(published, tmp_path):
    from tests.conftest import golden_bin

    build, _ = published
    seen = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf %s "$1" > {seen}\n')
    browser.chmod(0o755)
    run = golden_bin("report", build, "--open", env={"BROWSER": str(browser)}, timeout=120)
    assert run.code == 0, run.err
    assert seen.read_text() == (build / "report.html").as_uri()


@pytest.mark.parametrize("content, field", [
    (None, "no build record"),
    ('{"golden_manifest": 1, "name": "x", ', "not valid JSON"),
    ("[1, 2]", "JSON list, not an object"),
    ('{"golden_manifest": 1, "status": "failed"}', "name: field required"),
    ('{"golden_manifest": 1, "name": "x", "status": "failed", "stages": "all"}', "stages: input should be a valid list"),
    ('{"golden_manifest": 1, "name": "x", "status": "failed", "stages": [{"name": "install", "seconds": "slow"}]}',
     "stages[0].seconds"),
    ('{"golden_manifest": 2, "name": "x", "status": "failed"}', "newer than this golden reads"),
])
def test_missing_or_malformed_build_json_is_an_input_error(golden, tmp_path, content, field):
    build = tmp_path / "x.build"
    build.mkdir()
    if content is not None:
        (build / "build.json").write_text(content)
    run = golden("report", build)
    assert run.code == 2
    assert f"error: {build / 'build.json'}: " in run.err
    assert field in run.err
    assert "hint:" in run.err
    assert not (build / "report.html").exists()
    with pytest.raises(InputError) as exc:
        render_report(build)
    assert exc.value.where == str(build / "build.json")


def test_not_a_build_directory(golden, tmp_path):
    run = golden("report", tmp_path / "nope.build")
    assert run.code == 2 and "no such build directory" in run.err
    (tmp_path / "file.json").write_text("{}")
    run = golden("report", tmp_path / "file.json")
    assert run.code == 2 and "not a build directory" in run.err


def test_symlinked_evidence_is_not_followed(failed, tmp_path):
    build, _ = failed
    (tmp_path / "elsewhere.log").write_text("ELSEWHERE line\n")
    (tmp_path / "elsewhere.png").write_bytes(rr.screenshot_png(64, 64))
    for name, target in (("serial.log", "elsewhere.log"), ("screenshot.png", "elsewhere.png")):
        (build / name).unlink()
        (build / name).symlink_to(tmp_path / target)
    doc, out = page(build)
    assert "ELSEWHERE" not in out.read_text()
    assert not doc.xpath("//img")
    # The tail saved in build.json is shown instead.
    assert one(doc, '//pre[@id="serial-tail"]').text_content().splitlines()[-1] == "progress 99%"
