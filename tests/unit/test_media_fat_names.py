"""Which names a floppy stores as 8.3 short names and which get long names."""

from __future__ import annotations

import pytest

from builder.media.fat import fits_8dot3


@pytest.mark.parametrize("name", ["KS.CFG", "ks.cfg", "TXTSETUP.OEM", "viostor.sys", "AMD64", "A",
                                  "12345678.123", "$OEM$", "FILE~1.TXT", "x-y_z.{}"])
def test_fits(name):
    assert fits_8dot3(name)


@pytest.mark.parametrize("name", ["autounattend.xml", "$WinPEDriver$", "123456789.txt", "a.1234",
                                  "a.b.c", "with space.txt", "plus+.txt", "x.", ".hidden", "é.txt",
                                  "semi;colon", ".", ".."])
def test_does_not_fit(name):
    assert not fits_8dot3(name)
