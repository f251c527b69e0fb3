"""Test harness: a self-contained bed for the browser probe, the lab's addresses in namespaces made here.

Used by tests/daemon/test_browser_call.py when no lab is up (the product carries none of it): one "server" namespace
carries every node's addresses and runs kamailio, rtpengine and coturn on the
site's rendered files; a NAT'd client sits behind a gateway namespace
(masquerade fully-random) and a public client beside it, all on a bridge that
lives in its own namespace, so nothing is added to the machine's own.
"""
