"""Transitional: `FORMATS` for `weightguard.policy`, which still imports it from here.

Format detection moved to `weightguard.pickle.formats` (issue 15 point 2); `FORMATS` is
part of `weightguard.scan`'s public API. The policy package is being restructured in
parallel (issue 15 point 3); once it imports `weightguard.scan.FORMATS`, delete this module.
"""

from __future__ import annotations

from weightguard.pickle.formats import FORMATS

__all__ = ["FORMATS"]
