"""Host storage for guests: libvirt pools, extra disks, SELinux labels (guide ch. 5)."""
