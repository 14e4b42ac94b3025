"""OS detection from /etc/lsb-release when a tree has no os-release."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.image.osinfo import detect
from test_image_packages import tree

UBUNTU_LSB = ('DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=14.04\nDISTRIB_CODENAME=trusty\n'
              'DISTRIB_DESCRIPTION="Ubuntu 14.04.6 LTS"\n')


def test_ubuntu_without_os_release_is_ubuntu_not_debian(tmp_path):
    g = tree(tmp_path, {"/etc/lsb-release": UBUNTU_LSB, "/etc/debian_version": "jessie/sid\n"})
    osi = detect(g)
    assert (osi.distro, osi.family, osi.version, osi.major, osi.minor) == ("ubuntu", "debian", "14.04", 14, 4)
    assert (osi.pretty_name, osi.release_file) == ("Ubuntu 14.04.6 LTS", "/etc/lsb-release")


def test_a_derivative_keeps_its_own_id_in_the_debian_family(tmp_path):
    g = tree(tmp_path, {"/etc/lsb-release": "DISTRIB_ID=LinuxMint\nDISTRIB_RELEASE=17.3\n",
                        "/etc/debian_version": "jessie/sid\n"})
    osi = detect(g)
    assert (osi.distro, osi.family, osi.major) == ("linuxmint", "debian", 17)


@pytest.mark.parametrize("files,distro,version", [
    # os-release wins over lsb-release.
    ({"/etc/os-release": 'ID=ubuntu\nVERSION_ID="22.04"\n', "/etc/lsb-release": UBUNTU_LSB}, "ubuntu", "22.04"),
    # redhat-lsb's lsb-release names no distribution: redhat-release decides.
    ({"/etc/lsb-release": "LSB_VERSION=base-4.0-amd64:core-4.0-amd64\n",
      "/etc/redhat-release": "CentOS release 6.10 (Final)\n"}, "centos", "6.10"),
    # No DISTRIB_ID: Debian's own version file.
    ({"/etc/lsb-release": "LSB_VERSION=x\n", "/etc/debian_version": "12.5\n"}, "debian", "12.5"),
])
def test_which_release_file_decides(tmp_path, files, distro, version):
    osi = detect(tree(tmp_path, files))
    assert (osi.distro, osi.version) == (distro, version)
