"""Clone names from a pattern: numbered, valid host names, all different, refused otherwise."""

from __future__ import annotations

import pytest

from builder.clone.naming import check_pattern, expand
from builder.errors import InputError


def test_numbers_from_one_and_format_specs():
    assert expand("web-{n}", 3) == ["web-1", "web-2", "web-3"]
    assert expand("db{n:02d}.example.com", 2, first=9) == ["db09.example.com", "db10.example.com"]
    assert expand("node-{n:x}", 2, first=15) == ["node-f", "node-10"]


@pytest.mark.parametrize("pattern, message", [
    ("web", "has no {n}"),
    ("web-{i}", "only {n}"),
    ("web-{n", "not valid"),
    ("web_{n}", "not a valid host name"),
    ("web-{n:s}", "web-{n:s}"),
    ("-{n}", "not a valid host name"),
])
def test_bad_patterns_are_refused(pattern, message):
    with pytest.raises(InputError, match=message) as e:
        expand(pattern, 2)
    assert e.value.where == "--name" and e.value.exit_code == 2


def test_a_pattern_that_repeats_a_name_is_refused():
    # {n!s:.1} keeps the first digit only: clone 1 and clone 10 would both be web-1.
    with pytest.raises(InputError, match="gives 'web-1' twice"):
        expand("web-{n!s:.1}", 10)


def test_count_and_first_bounds():
    with pytest.raises(InputError, match="at least 1"):
        expand("web-{n}", 0)
    with pytest.raises(InputError, match="negative"):
        expand("web-{n}", 1, first=-1)
    check_pattern("web-{n}")
