"""Fixtures for the image layer: test disks built once per session, copied per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import guestimages as gi

ROOT = os.geteuid() == 0


@pytest.fixture(scope="session")
def base_images(tmp_path_factory) -> dict[str, Path]:
    if not ROOT:
        pytest.skip("building test disks (losetup, mount) and the loop backend need root")
    d = tmp_path_factory.mktemp("golden-images")
    return {
        "rhel7": gi.build_rhel7(d / "rhel7.raw"),
        "rhel6": gi.build_rhel6(d / "rhel6.raw"),
        "rhel9": gi.build_rhel9(d / "rhel9.raw"),
        "efi": gi.build_rhel9(d / "efi.raw", efi=True),
    }


@pytest.fixture
def image(base_images, tmp_path):
    """image("rhel7") -> a private copy of that test disk."""
    def copy(name: str, suffix: str = "") -> Path:
        return gi.copy_image(base_images[name], tmp_path / f"{name}{suffix}.raw")
    return copy
