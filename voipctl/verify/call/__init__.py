"""The SIPp call probe: a UAC calls a UAS through kamailio; rtpengine must carry media both ways."""
