"""The install-method registry: one module per method, and the schema's values come from it."""

from __future__ import annotations

import pkgutil
from pathlib import Path
from typing import get_args

import pytest

import builder.install_methods as registry
from builder.errors import InputError
from builder.plan import make_plan
from builder.profile import load
from builder.profile.schema import Install
from tests.unit.profile_factory import representative, write


def test_the_schema_accepts_exactly_the_registered_methods_in_order():
    assert get_args(Install.model_fields["method"].annotation) == tuple(registry.METHODS)
    assert Install().method == "location" == next(iter(registry.METHODS))


def test_every_method_module_is_registered_under_its_own_name():
    modules = {m.name for m in pkgutil.iter_modules([str(Path(registry.__file__).parent)])} - {"base"}
    assert modules, "no method modules found"
    for module in modules:
        method = __import__(f"builder.install_methods.{module}", fromlist=["METHOD"]).METHOD
        assert registry.METHODS[method.name] is method, module
        assert module.rstrip("_") == method.name       # import_.py: `import` is a keyword
    assert len(registry.METHODS) == len(modules)


def test_an_unknown_method_is_refused_naming_the_field_and_the_choices(tmp_path):
    path = write(tmp_path, representative("rhel7.9", install={"method": "floppy", "media": "/srv/x.iso"}))
    with pytest.raises(InputError) as exc:
        load(path)
    text = str(exc.value) + " " + " ".join(str(i) for i in exc.value.details.get("issues", []))
    assert "install.method" in text, text
    for name in registry.METHODS:
        assert name in text, (name, text)


def test_get_refuses_an_unknown_name_with_the_field_named():
    with pytest.raises(InputError) as exc:
        registry.get("floppy")
    assert exc.value.where == "install.method"
    assert "remaster" in exc.value.hint


# One Linux profile per method that installs Linux; each must yield a plan and an argv.
_MEDIA = {"location": "http://mirror.example.com/tree/", "ksfloppy": "/srv/rhel5.iso",
          "remaster": "/srv/rhel7.iso", "oemdrv": "/srv/rhel7.iso", "pxe": "http://mirror.example.com/tree/"}


@pytest.mark.parametrize("name", sorted(_MEDIA))
def test_each_method_plans_its_side_medium_and_boots_it(tmp_path, name):
    os_id = "rhel5.11" if name == "ksfloppy" else "rhel7.9"
    extra = {"network": {"mode": "bridge", "source": "br0"}} if name == "pxe" else {}
    loaded = load(write(tmp_path, representative(os_id, install={"method": name, "media": _MEDIA[name]}, **extra)))
    plan = make_plan(loaded, cwd=tmp_path)
    method = registry.get(name)
    kinds = [a.path for a in plan.artifacts]
    if method.media_file:
        side = getattr(plan.layout, method.media_file)
        assert side in kinds
        assert any(str(side) in arg for arg in plan.virt_install), plan.virt_install
    expected_flag = {"location": "--location", "ksfloppy": "--location", "remaster": "--cdrom",
                     "oemdrv": "--cdrom", "pxe": "--pxe"}[name]
    assert expected_flag in plan.virt_install
