"""SIP load against a real kamailio in network namespaces: SIPp runs, kamailio CPU from /proc.

Used by benchmarks/sip_load.py (generated config against the Debian stock config) and by the
flood-protection daemon test. Measures; never decides pass/fail on speed.
"""
