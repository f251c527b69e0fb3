"""The browser probe: a real WebRTC call from headless chromium through the site.

A JsSIP page (web/) registers over WSS, calls a plain SIP phone (SIPp) through
kamailio and rtpengine, with coturn as its ICE server; `run_browser_probe` runs it
for `voipctl verify --browser` and judges media from both ends and rtpengine.
"""
