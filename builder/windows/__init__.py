"""Windows guests: answer files and virtio driver media."""
