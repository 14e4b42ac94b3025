"""`golden report` pages opened in headless Chromium: what a person would see.

The published page is made from the session's real demo install: its serial
log, kickstart and domain XML, and inspect/customize/seal run for real on an
overlay of its disk. The failed page carries a real PNG console screenshot
and a serial log that ends in markup. Chromium gives back the DOM it built
(--dump-dom) and a picture of the page (--screenshot), whose pixels are
counted for the colours of the embedded screenshot and the status badge.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import lxml.html
import pytest

from tests import report_records as rr
from tests.conftest import golden_bin
from tests.pngimage import Image, read_png

pytestmark = pytest.mark.system

GREEN_BADGE = (0x1a, 0x7f, 0x37)
RED_BADGE = (0xcf, 0x22, 0x2e)


@dataclass
class Browser:
    work: Path

    def run(self, *args: str) -> subprocess.CompletedProcess:
        exe = shutil.which("chromium")
        assert exe, "chromium is missing: scripts/bootstrap.sh installs Debian's chromium package"
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
               f"--user-data-dir={self.work / 'profile'}", "--hide-scrollbars", "--force-color-profile=srgb",
               # Nothing on the page may need the network; if it tried, no name would resolve.
               "--host-resolver-rules=MAP * ~NOTFOUND", *args]
        proc = subprocess.run(cmd, capture_output=True, timeout=300)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
        return proc

    def dom(self, page: Path):
        return lxml.html.fromstring(self.run("--dump-dom", page.as_uri()).stdout)

    def picture(self, page: Path, width: int, height: int) -> Image:
        shot = self.work / f"{page.stem}-{width}x{height}.png"
        shot.unlink(missing_ok=True)
        self.run(f"--screenshot={shot}", f"--window-size={width},{height}", page.as_uri())
        return read_png(shot.read_bytes())


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Browser:
    return Browser(tmp_path_factory.mktemp("chromium"))


def txt(el) -> str:
    return " ".join(el.text_content().split())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def published_page(demo_install, tmp_path_factory):
    """A published build record of the demo install, its image reports made for real; rendered by `golden report`."""
    from builder import catalog
    from builder.image import customize, inspect_image, open_image, seal

    work = tmp_path_factory.mktemp("report-published")
    overlay = work / "work.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(demo_install.disk),
                    str(overlay)], check=True)
    timings, reports = {}, {}
    with open_image(overlay) as h:
        for stage, call in (("inspect", lambda: inspect_image(h, os_hint="golden-demo")),
                            ("customize", lambda: customize(h, [{"hostname": "demo-web"}], os_hint="golden-demo")),
                            ("seal", lambda: seal(h, os_hint="golden-demo"))):
            start = time.monotonic()
            reports[stage] = call()
            timings[stage] = round(time.monotonic() - start, 2)
    src = demo_install.build_dir
    build = work / f"{demo_install.name}.build"
    build.mkdir()
    result = demo_install.result
    record = rr.base_record(demo_install.name, build, "published")
    entry = catalog.get("demo")
    record.update({
        "profile": {"path": str(demo_install.profile), "chain": [str(demo_install.profile)],
                    "sha256": sha256(demo_install.profile), "resolved": None},
        "os": {"key": "demo", **entry.model_dump(mode="json")},
        "connect": result["connect"], "accelerator": result["accelerator"],
        "stages": [{"name": "validate", "status": "ran", "seconds": 0.01, "detail": ""},
                   {"name": "kickstart", "status": "ran", "seconds": 0.02, "detail": ""},
                   {"name": "media", "status": "cached", "seconds": 0.0, "detail": "demo media"},
                   {"name": "install", "status": "ran", "seconds": result["elapsed"],
                    "detail": f"MAC {result['mac']}"},
                   *({"name": s, "status": "ran", "seconds": timings[s], "detail": ""} for s in timings),
                   {"name": "publish", "status": "ran", "seconds": 0.5, "detail": ""}],
        "artifacts": [rr.artifact("kickstart", src / "ks.cfg"), rr.artifact("domain-xml", demo_install.domain_xml),
                      rr.artifact("serial-log", demo_install.serial_log),
                      {"kind": "image", "path": str(overlay), "sha256": sha256(overlay),
                       "bytes": overlay.stat().st_size}],
        "image": {"path": str(overlay), "format": "qcow2", "sha256": sha256(overlay),
                  "bytes": overlay.stat().st_size, "virtual_size": 2 << 30},
        **reports,
    })
    rr.write_record(build, record)
    (build / "clones.json").write_text(json.dumps(rr.clones_record(record["image"]["sha256"], str(overlay))))
    run = golden_bin("report", build, timeout=120)
    assert run.code == 0, run.err
    return build / "report.html", record


@pytest.fixture(scope="module")
def failed_page(demo_install, tmp_path_factory):
    work = tmp_path_factory.mktemp("report-failed")
    build = work / "demo-broken.build"
    record = rr.failed_build(build)
    # A real console log, then what a hostile or broken guest might print last.
    log = demo_install.serial_log.read_bytes().rstrip(b"\n") + b"\n"
    (build / "serial.log").write_bytes(log + ("\r\n".join(rr.HOSTILE_SERIAL) + "\r\n").encode())
    run = golden_bin("report", build, "-o", work / "failed.html", timeout=120)
    assert run.code == 0, run.err
    return work / "failed.html", record


def test_published_page_in_chromium(published_page, browser, demo_install):
    page, record = published_page
    dom = browser.dom(page)
    assert txt(dom.xpath('//*[@id="status"]')[0]) == "PUBLISHED"
    assert txt(dom.xpath('//*[@id="build-name"]')[0]) == demo_install.name
    body = txt(dom)
    accel = "TCG (software emulation, no KVM)" if record["accelerator"] == "qemu" else "KVM"
    assert accel in body
    assert record["connect"] in body
    # The inspect table holds what the demo install really wrote into its guest.
    hwaddrs = [txt(td) for td in dom.xpath('//table[@id="ifcfg"]//td[5]')]
    assert demo_install.result["mac"].upper() in hwaddrs
    assert record["inspect"]["hostname"] and record["inspect"]["hostname"] in txt(dom.xpath('//section[@id="inspect"]')[0])
    seal = txt(dom.xpath('//section[@id="seal"]')[0])
    for op in record["seal"]["operations"]:
        for change in op["changes"]:
            assert change["path"] in seal
    assert "/etc/machine-id" in seal and "/etc/ssh/ssh_host_" in seal
    for a in record["artifacts"]:
        assert a["sha256"] in txt(dom.xpath('//section[@id="artifacts"]')[0])
    verdicts = [txt(s) for s in dom.xpath('//section[@id="clones"]//span[contains(@class, "verdict")]')]
    assert verdicts == ["verified", "verification FAILED", "not verified"]
    assert not dom.xpath("//script")


def test_published_page_looks_published(published_page, browser):
    page, _ = published_page
    picture = browser.picture(page, 1280, 700)
    # The badge is about 110 x 22 CSS pixels of solid green.
    assert picture.count(GREEN_BADGE) > 1000
    assert picture.count(RED_BADGE) == 0
    assert picture.count(rr.MAGENTA) == 0


def test_failed_page_shows_the_console_screenshot(failed_page, browser):
    page, _ = failed_page
    picture = browser.picture(page, 1280, 1200)
    # The embedded 320 x 200 screenshot: a 160 x 180 magenta and a 160 x 180 cyan block, drawn 1:1.
    block = 160 * 180
    assert 0.95 * block <= picture.count(rr.MAGENTA) <= 1.05 * block
    assert 0.95 * block <= picture.count(rr.CYAN) <= 1.05 * block
    assert picture.count(RED_BADGE) > 1000
    assert picture.count(GREEN_BADGE) == 0


def test_failed_page_shows_error_hint_and_serial_text(failed_page, browser):
    page, record = failed_page
    dom = browser.dom(page)
    assert txt(dom.xpath('//*[@id="status"]')[0]) == "FAILED"
    assert txt(dom.xpath('//*[@id="failure-message"]')[0]) == record["failure"]["message"]
    assert record["failure"]["hint"] in txt(dom.xpath('//*[@id="failure-hint"]')[0])
    serial = dom.xpath('//pre[@id="serial-tail"]')[0]
    lines = serial.text_content().splitlines()
    assert "<script>alert(1)</script>" in lines
    assert lines[-1] == "progress 99%"
    assert any(line.startswith("golden-installer: ") for line in lines[:-len(rr.HOSTILE_SERIAL)])
    # The markup in the log stayed text: Chromium built no element from it.
    assert not dom.xpath("//script") and not serial.xpath(".//*")
    assert dom.xpath('//img[@id="screenshot"]/@src')[0].startswith("data:image/png;base64,")
