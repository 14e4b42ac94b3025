"""The build: each stage runs only when its key changed, and the publish is all or nothing.

Keys chain (kickstart -> media -> install -> inspect -> customize -> seal ->
publish), so a change anywhere reruns that stage and everything after it, and
nothing before it. The keys are computed up front: an unchanged profile is
recognised without touching the build directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from builder import __version__, catalog
from builder.errors import GoldenError, HostError, InputError
from builder.fsutil import atomic_write, sha256_file
from builder.layout import BuildLayout
from builder.pipeline import formats
from builder.pipeline import publish as pub
from builder.pipeline.keys import StageKeys, compute_keys
from builder.pipeline.lock import build_lock
from builder.pipeline.record import STAGES, BuildRecord, StageCache, utcnow
from builder.profile import load
from builder.profile.dump import resolved_dump
from builder.profile.loader import LoadedProfile

WORK_IMAGE = "golden-work.qcow2"
_IMAGE_STAGES = ("inspect", "customize", "seal")


@dataclass
class BuildOutcome:
    name: str
    status: str                    # published, up-to-date, failed
    build_dir: Path
    image: Path
    manifest: Path
    report: Path | None
    rebuilt: list[str] = field(default_factory=list)
    record: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"name": self.name, "status": self.status, "build_dir": str(self.build_dir),
                "image": str(self.image), "manifest": str(self.manifest),
                "report": str(self.report) if self.report else None, "rebuilt": self.rebuilt,
                "stages": self.record.get("stages", [])}


class _Terminated(Exception):
    pass


def _raise_terminated(signum, frame):
    raise _Terminated()


def build(profile: str | LoadedProfile, *, connect: str | None = None, force: bool = False,
          keep_failed: bool = False, cwd: Path | None = None, until: str | None = None, on_stage=None,
          on_progress=None, on_event=None) -> BuildOutcome:
    if until is not None and until not in STAGES:
        raise InputError(f"unknown stage {until!r}", where="--until", hint="one of: " + ", ".join(STAGES))
    started = time.monotonic()
    loaded = profile if isinstance(profile, LoadedProfile) else load(profile)
    validate_seconds = time.monotonic() - started
    p = loaded.profile
    cwd = cwd or Path.cwd()
    layout = BuildLayout.for_profile(p, cwd)
    event = on_event or (lambda message: None)
    keys = compute_keys(loaded, layout, connect, cwd)
    cache = StageCache(layout.build_dir / "stages.json")

    # Before the preflight: what a killed run left must not block this one.
    _reap(keys.connect, event)
    if not force and until is None and layout.image.exists() and cache.fresh("publish", keys.publish):
        return BuildOutcome(p.name, "up-to-date", layout.build_dir, layout.image, layout.manifest,
                            layout.report if layout.report.exists() else None)

    _preflight(loaded, layout, keys.connect)
    with build_lock(layout.root, p.name):
        for path in pub.sweep_temps(layout.root, p.name):
            event(f"removed {path.name}, left by an interrupted publish")
        layout.build_dir.mkdir(parents=True, exist_ok=True)
        record = BuildRecord(layout.build_dir / "build.json", _base_record(loaded, keys), on_change=on_stage)
        record.stage("validate").status = "ran"
        record.stage("validate").seconds = round(validate_seconds, 2)
        record.stage("validate").key = keys.validate
        if force:
            cache.forget(STAGES)
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
        try:
            return _run(loaded, layout, keys, cache, record, connect=keys.connect, keep_failed=keep_failed,
                        cwd=cwd, until=until, on_progress=on_progress, event=event)
        except _Terminated:
            failure = GoldenError("the build was stopped (SIGTERM)")
            failure.exit_code = 143
            _fail(record, layout, failure)
            raise failure from None
        except KeyboardInterrupt:
            _fail(record, layout, GoldenError("the build was interrupted (Ctrl-C)"))
            raise
        except GoldenError as exc:
            _fail(record, layout, exc)
            raise
        finally:
            signal.signal(signal.SIGTERM, previous)


def _preflight(loaded: LoadedProfile, layout: BuildLayout, uri: str) -> None:
    """Bad input (unreachable output dir, missing media) fails before any file is made."""
    from builder.virt import connection, services
    from builder.virt.install import preflight
    if connection.is_local(uri):
        services.ensure_running()
    with connection.connection(uri) as conn:
        preflight(loaded, conn, uri, layout)


def _reap(uri: str, event) -> None:
    """Domains of golden runs that were killed (SIGKILL) go at the next golden command."""
    from builder.virt import connection
    if not connection.is_local(uri):
        return
    with contextlib.suppress(GoldenError):
        with connection.connection(uri) as conn:
            from builder.virt.install import reap_orphans
            for name in reap_orphans(conn):
                event(f"removed domain {name} left by an interrupted golden run")


def _base_record(loaded: LoadedProfile, keys: StageKeys) -> dict:
    p = loaded.profile
    entry = catalog.get(p.os)
    return {
        "golden_manifest": 1,
        "name": p.name,
        "status": "running",
        "pid": os.getpid(),
        "created": utcnow(),
        "golden_version": __version__,
        "profile": {"path": str(loaded.source), "chain": [str(c) for c in loaded.chain], "sha256": keys.profile_sha256, "resolved": resolved_dump(loaded)},
        "os": {"key": p.os, **entry.model_dump(mode="json")},
        "connect": keys.connect,
        "accelerator": keys.accelerator,
        "tools": keys.tools,
        "build_key": keys.publish,
        "artifacts": [],
        "image": None,
        "domain_xml": None,
        "inspect": None,
        "customize": None,
        "seal": None,
        "failure": None,
    }


def _run(loaded, layout: BuildLayout, keys: StageKeys, cache: StageCache, record: BuildRecord, *,
         connect, keep_failed, cwd, until, on_progress, event) -> BuildOutcome:
    p = loaded.profile
    entry = catalog.get(p.os)
    rebuilt: list[str] = []
    depends = keys.depends

    def needed(name: str, key: str) -> bool:
        # A stage reruns when its key changed, or when a stage it reads from reran with the same key
        # (its outputs were missing or altered, so what this stage made from them is stale too).
        if not any(d in rebuilt for d in depends[name]) and cache.fresh(name, key):
            record.mark(name, "cached", key)
            return False
        cache.forget([name])
        rebuilt.append(name)
        return True

    plan = keys.plan

    def stop_after(name: str) -> BuildOutcome | None:
        if until != name:
            return None
        for later in STAGES[STAGES.index(name) + 1:]:
            record.mark(later, "skipped", None, f"--until {until}")
        record.data["status"] = f"stopped after {until}"
        record.save()
        return BuildOutcome(p.name, f"stopped after {until}", layout.build_dir, layout.image, layout.manifest,
                            None, rebuilt=rebuilt, record=record.data)

    if (done := stop_after("validate")):
        return done
    # kickstart
    if plan.kickstart is None:
        record.mark("kickstart", "skipped", keys.kickstart, "no kickstart: the answer file is made with the media")
    elif needed("kickstart", keys.kickstart):
        with record.running("kickstart", keys.kickstart) as stage:
            atomic_write(layout.kickstart, plan.kickstart.data, mode=0o600)
            stage.detail = f"validated by pykickstart {plan.kickstart.version}"
        cache.remember("kickstart", keys.kickstart, [layout.kickstart])
    if (done := stop_after("kickstart")):
        return done

    # media
    if needed("media", keys.media):
        with record.running("media", keys.media) as stage:
            from builder.virt.install import resolve_media, write_inputs
            media = resolve_media(loaded)
            write_inputs(plan, loaded, media)
            stage.detail = _media_detail(layout, media)
        cache.remember("media", keys.media, _media_files(layout))
    if (done := stop_after("media")):
        return done

    # install
    if needed("install", keys.install):
        with record.running("install", keys.install) as stage:
            from builder.virt.install import install
            result = install(loaded, connect=connect, keep_failed=keep_failed, cwd=cwd,
                             on_progress=on_progress, on_event=event, inputs_ready=True)
            stage.detail = f"{result.elapsed:.0f} s under {result.accelerator}, MAC {result.mac}"
        cache.remember("install", keys.install, layout.disks + [layout.domain_xml, layout.install_result],
                       result=result.to_json())
    if (done := stop_after("install")):
        return done

    # inspect, customize, seal: one appliance launch (or one loop mount) for all three
    work = layout.build_dir / WORK_IMAGE
    image_keys = {"inspect": keys.inspect, "customize": keys.customize, "seal": keys.seal}
    if entry.is_windows:
        for name in _IMAGE_STAGES:
            record.mark(name, "skipped", image_keys[name],
                        "generalized by sysprep at the end of the install" if p.windows.generalize
                        else "not generalized (windows.generalize: false)")
        work = layout.disks[0]
    elif "install" in rebuilt or not all(cache.fresh(n, image_keys[n]) for n in _IMAGE_STAGES):
        cache.forget(_IMAGE_STAGES)
        _image_stages(loaded, layout, work, keys, cache, record, rebuilt)
    else:
        for name in _IMAGE_STAGES:
            record.mark(name, "cached", image_keys[name])
    for name in _IMAGE_STAGES:
        record.data[name] = cache.result(name)
    record.data["install"] = cache.result("install")

    if until in _IMAGE_STAGES and (done := stop_after("seal")):
        return done
    # publish
    rebuilt.append("publish")
    with record.running("publish", keys.publish) as stage:
        outputs = _publish(loaded, layout, work, record)
        stage.detail = f"{layout.image.name} sha256 {record.data['image']['sha256'][:12]}"
    cache.remember("publish", keys.publish, outputs)
    return BuildOutcome(p.name, "published", layout.build_dir, layout.image, layout.manifest,
                        layout.report if layout.report.exists() else None, rebuilt=rebuilt, record=record.data)


def _media_detail(layout: BuildLayout, media: str | None) -> str:
    made = [f.name for f in _media_files(layout)]
    return f"install media {media}" + (f"; made {', '.join(made)}" if made else "")


def _media_files(layout: BuildLayout) -> list[Path]:
    files = []
    for d in (layout.media_dir, layout.unattend_dir):
        if d.is_dir():
            files += sorted(f for f in d.rglob("*") if f.is_file())
    return files


def _image_stages(loaded, layout: BuildLayout, work: Path, keys: StageKeys, cache: StageCache,
                  record: BuildRecord, rebuilt: list[str]) -> None:
    from builder.image import customize, inspect_image, open_image, seal
    from builder.image.container import check_container

    p = loaded.profile
    entry = catalog.get(p.os)
    hint = entry.id                 # the image steps take the OS facts from this catalog entry
    with contextlib.suppress(FileNotFoundError):
        work.unlink()
    base = layout.disks[0]
    check_container(base)           # a damaged install disk is refused before the work overlay exists
    fmt = p.disks[0].format
    proc = subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", fmt, "-b", str(base), str(work)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise HostError(f"cannot make the work image: {proc.stderr.strip()}", where=str(work))
    # A compressed publish zeroes free space and swap first, which needs the appliance (seal.py).
    compact = p.output.compress != "none"
    results = {}
    try:
        with contextlib.ExitStack() as stack:
            with record.running("inspect", keys.inspect) as stage:
                h = stack.enter_context(open_image(work, backend="guestfs" if compact else "auto"))
                results["inspect"] = inspect_image(h, os_hint=hint)
                stage.detail = _inspect_detail(results["inspect"])
            with record.running("customize", keys.customize) as stage:
                results["customize"] = customize(h, _customize_ops(loaded), os_hint=hint)
                stage.detail = f"{len(results['customize']['operations'])} operation(s)"
            with record.running("seal", keys.seal) as stage:
                results["seal"] = seal(h, _seal_only(loaded), _seal_skip(loaded), os_hint=hint)
                changed = [o["name"] for o in results["seal"]["operations"] if o["result"] == "changed"]
                stage.detail = f"{len(changed)} operation(s) changed something"
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            work.unlink()
        raise
    rebuilt += list(_IMAGE_STAGES)
    for name in _IMAGE_STAGES:
        out = layout.build_dir / f"{name}.json"
        atomic_write(out, json.dumps(results[name], indent=2, default=str) + "\n")
        record.data[name] = results[name]
        cache.remember(name, getattr(keys, name), [work, out], result=results[name])


COMPACTION = ("swap-reset", "free-space")


def _seal_only(loaded) -> list[str] | None:
    """The profile's seal.only, or with output.compress the defaults plus compaction."""
    from builder.image.seal import OPERATIONS
    p = loaded.profile
    if p.output.compress == "none" or p.seal.only is not None:
        return p.seal.only
    return [name for name, op in OPERATIONS.items() if op.default] + list(COMPACTION)


def _seal_skip(loaded) -> list[str]:
    """A hostname the profile's customize: sets is meant to stay; net-hostname would reset it."""
    p = loaded.profile
    skip = list(p.seal.skip)
    if any(step.hostname for step in p.customize) and "net-hostname" not in (p.seal.only or []):
        skip.append("net-hostname")
    return sorted(set(skip))


def _inspect_detail(report: dict) -> str:
    os_info = report.get("os") or {}
    bits = [str(os_info.get(k)) for k in ("distro", "version") if os_info.get(k)]
    if report.get("hostname"):
        bits.append(f"hostname {report['hostname']}")
    return ", ".join(bits)


def _customize_ops(loaded) -> list[dict]:
    ops = []
    for step in loaded.profile.customize:
        (name, value), = step.model_dump(mode="json", exclude_none=True).items()
        ops.append({name: value})
    return ops


def _artifact(kind: str, path: Path) -> dict:
    size = path.stat().st_size
    digest = sha256_file(path) if size <= (64 << 20) else None
    return {"kind": kind, "path": str(path), "sha256": digest, "bytes": size}


def _publish(loaded, layout: BuildLayout, work: Path, record: BuildRecord) -> list[Path]:
    p = loaded.profile
    fmt = p.output.format
    publication = pub.Publication()
    try:
        tmp_image = publication.stage(layout.image)
        pub.convert(work, tmp_image, fmt, p.output.compress)
        os.chmod(tmp_image, 0o644)
        image = pub.image_info(tmp_image, fmt)
        image["compaction"] = pub.compaction([layout.disks[0], work], tmp_image, p.output.compress)
        image["path"] = str(layout.image)
        images = [(layout.image, fmt)]
        for i, disk in enumerate(layout.disks[1:], start=1):
            extra = layout.root / f"{p.name}-disk{i}.{fmt}"
            pub.convert(disk, publication.stage(extra), fmt, p.output.compress)
            images.append((extra, fmt))
        template = layout.root / f"{p.name}.domain.xml"
        if layout.domain_xml.exists():
            publication.write(template, pub.template_xml(layout.domain_xml.read_text(), p.name, images))
            record.data["domain_xml"] = str(template)
        record.data["image"] = image
        record.data["artifacts"] = _artifacts(layout) + [{**{k: image[k] for k in ("path", "sha256", "bytes")},
                                                            "kind": "image"}]
        record.data["formats"] = formats.publish_formats(p, [work, *layout.disks[1:]], layout.root,
                                                         publication, image)
        record.data["artifacts"] += [f for f in record.data["formats"] if f["kind"] == "format"]
        record.data["status"] = "published"
        record.data["published"] = utcnow()
        publish = record.stage("publish")
        publish.status = "ran"
        publish.seconds = round(time.monotonic() - publish.t0, 2)   # the report is rendered inside this stage
        record.save()
        report = _render_report(layout)
        manifest_text = json.dumps({k: v for k, v in record.data.items() if k != "pid"}, indent=2,
                                   default=str) + "\n"
        if report is not None:
            publication.write(layout.report, report.read_text())
        publication.write(layout.manifest, manifest_text)
        publication.commit()
    except BaseException:
        publication.abort()
        record.data["status"] = "running"
        raise
    outputs = [layout.image, layout.manifest] + [Path(f["path"]) for f in record.data.get("formats", [])]
    if record.data.get("domain_xml"):
        outputs.append(Path(record.data["domain_xml"]))
    return outputs


def _artifacts(layout: BuildLayout) -> list[dict]:
    found = []
    for kind, path in [("kickstart", layout.kickstart), ("domain-xml", layout.domain_xml),
                       ("serial-log", layout.serial_log)] + [("media", f) for f in _media_files(layout)] \
            + [("disk", d) for d in layout.disks]:
        if path.exists():
            found.append(_artifact(kind, path))
    return found


def _render_report(layout: BuildLayout) -> Path | None:
    """The report is for people; a bug in it must not cost a finished image (the manifest has it all)."""
    import logging
    from builder.report import render_report
    try:
        return render_report(layout.build_dir)
    except Exception as exc:                      # noqa: BLE001
        logging.getLogger("golden.build").warning("the build report could not be written: %s", exc)
        return None


def _fail(record: BuildRecord, layout: BuildLayout, exc: GoldenError) -> None:
    failed = next((s for s in record.stages if s.status in ("failed", "running")), None)
    if failed is not None:
        failed.status = "failed"
    tail: list[str] = []
    with contextlib.suppress(OSError):
        tail = layout.serial_log.read_text(errors="replace").splitlines()[-40:]
    record.data["status"] = "failed"
    record.data["failure"] = {
        "stage": failed.name if failed else None,
        "exit_code": exc.exit_code,
        "message": exc.message,
        "hint": exc.hint,
        "screenshot": str(layout.screenshot) if layout.screenshot.exists() else None,
        "serial_log": str(layout.serial_log) if layout.serial_log.exists() else None,
        "serial_tail": tail,
    }
    record.data["artifacts"] = _artifacts(layout)
    with contextlib.suppress(Exception):
        record.save()
        _render_report(layout)
