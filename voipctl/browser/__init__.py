"""Holds only the browser probe's test bed (bed/) until it moves under tests/; the probe is voipctl.verify.browser."""
