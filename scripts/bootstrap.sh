#!/bin/sh
# Make a fresh Debian 12 machine ready for golden: the Debian packages golden
# drives, then a venv from /usr/bin/python3 that can see Debian's libvirt and
# guestfs bindings (neither is installable from PyPI in a usable form).
# Idempotent and quick when everything is already there.
set -eu
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

APT_PACKAGES="
qemu-system-x86 qemu-utils ovmf
libvirt-daemon-system libvirt-clients libvirt-dev pkg-config python3-libvirt
virtinst osinfo-db libosinfo-bin
libguestfs-tools python3-guestfs
linux-image-amd64 busybox-static e2fsprogs fdisk cpio openssh-client zstd xz-utils
xorriso genisoimage mtools dosfstools
isolinux syslinux syslinux-common extlinux pxelinux grub-efi-amd64-bin grub-common
dnsmasq-base iproute2 iptables libxml2-utils
python3-venv python3-dev
chromium
docker-registry skopeo gnupg
tgt
db-util mmdebstrap
"

missing=""
for p in $APT_PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "bootstrap: these Debian packages are missing and installing them needs root:$missing" >&2
        exit 3
    fi
    echo "bootstrap: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends $missing
fi

stamp="$VENV/.golden-bootstrap"
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "bootstrap: building $VENV from /usr/bin/python3"
    /usr/bin/python3 -m venv --system-site-packages "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -e '.[test]'
    echo "$want" > "$stamp"
fi
