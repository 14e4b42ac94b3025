"""Shipping a published image: its SBOM, a signed checksum list, checks and publish targets."""
