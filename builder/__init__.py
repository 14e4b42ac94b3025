"""golden: build virtual-machine golden images from declarative OS profiles."""

__version__ = "0.1.0"
