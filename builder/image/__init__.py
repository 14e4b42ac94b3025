"""The image layer: open guest disks (loop mounts or a guestfs appliance), inspect, customize, seal.

    with open_image("golden.qcow2") as g:
        report = inspect_image(g)
        customize(g, [Hostname("web1")])
        seal(g)

The functions `inspect_image`, `customize` and `seal` are re-exported here, so
`builder.image.customize` names the function; import the modules' other names
from the modules themselves (`from builder.image.customize import parse_ops`).
"""

from builder.image.access import BACKENDS, open_image, open_images
from builder.image.customize import (Edit, Firstboot, Hostname, RootPassword, SelinuxRelabel, SshKey, Timezone,
                                     Upload, Write, customize, parse_op, parse_ops)
from builder.image.guest import Guest
from builder.image.inspect import inspect_image
from builder.image.inuse import find_overlays
from builder.image.seal import list_operations, seal

__all__ = [
    "BACKENDS", "Edit", "Firstboot", "Guest", "Hostname", "RootPassword", "SelinuxRelabel", "SshKey", "Timezone",
    "Upload", "Write", "customize", "find_overlays", "inspect_image", "list_operations", "open_image",
    "open_images", "parse_op", "parse_ops", "seal",
]
