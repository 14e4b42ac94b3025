"""Build step that ships profiles/, kickstarts/ and drivers/ inside the wheel.

They stay at the top of the checkout (one source of truth, the layout the
README and `make demo` use); a wheel has no checkout, so build_py copies them
into builder/shipped/, where builder.paths finds them after `pip install .`.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("profiles", "kickstarts", "drivers")


class BuildWithShippedData(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            # An editable install reads the checkout's folders directly.
            return
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "builder" / "shipped"
        for name in SHIPPED:
            dest = target / name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(root / name, dest,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*~"))


setup(cmdclass={"build_py": BuildWithShippedData})
