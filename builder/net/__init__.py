"""Network installs and host networking: PXE trees and servers, bridges, libvirt networks."""
