"""Marks of tests that run kamailio under SIPp load in a namespace (voipctl.sipload.bed)."""

from __future__ import annotations

import os
import shutil

import pytest

LOAD_TOOLS = ("kamailio", "rtpengine", "sipp", "ip", "taskset")
MISSING = [tool for tool in LOAD_TOOLS if shutil.which(tool) is None]

LOAD_BED_MARKS = [
    pytest.mark.daemon,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
    pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)}"),
]
