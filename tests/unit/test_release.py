"""weightguard.release.release_version: CI tags as versions, read as packaging reads them."""

from __future__ import annotations

import pytest
from packaging.version import Version

from weightguard.errors import UsageError
from weightguard.release import release_version


@pytest.mark.parametrize(
    ("tag", "want"),
    [("v2.4.0", "2.4.0"), ("2.4.0", "2.4.0"), ("V3", "3"), ("v2.5.0-rc1", "2.5.0rc1")],
)
def test_tags_become_the_version_packaging_reads(tag: str, want: str) -> None:
    assert release_version(tag) == want == str(Version(tag))


@pytest.mark.parametrize("bad", ["", " v2.4.0", "v2.4.0\n", "main", "release-2.4", "2.4.0+cu121"])
def test_not_a_release_version_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError) as err:
        release_version(bad)
    assert err.value.code == "usage.version"
