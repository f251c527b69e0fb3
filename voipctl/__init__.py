"""voipctl: render, deploy and verify a WebRTC-to-SIP platform from one site file."""

__version__ = "0.1.0"
