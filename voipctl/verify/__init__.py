"""Verify: prove that what was deployed is what the site says, and that it works.

`orchestrator` runs the parts at once and builds the report: hosts/ (testinfra host suite over
SSH), probes/ (functional probes from the vantages), scanners/ (svmap, sslyze), call/ (the SIPp
call and its media), browser/ (the WebRTC call probe); report/ holds the outcomes they all return.
Subpackages never import the orchestrator (tests/unit/test_import_graph.py).
"""
