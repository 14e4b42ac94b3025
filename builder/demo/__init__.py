"""Demo install media: a tiny RHEL-DVD-like installer built from Debian packages.

It lets CI and `make demo` run golden's real install pipeline offline, without
vendor media. It says DEMO MEDIA, not Red Hat Enterprise Linux, everywhere.
"""

from builder.demo.media import DEMO_LABEL, DEMO_NAME, DEMO_VERSION, DemoMedia, build_demo_media

__all__ = ["DEMO_LABEL", "DEMO_NAME", "DEMO_VERSION", "DemoMedia", "build_demo_media"]
