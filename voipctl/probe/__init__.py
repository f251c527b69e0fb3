"""voipctl's own small probes, used by the tests and by `voipctl verify`.

SIP: sipmsg, websocket and sdp are pure (build and parse bytes); transport
opens connections ("how to reach a host"); dialog, call and sip run exchanges
and report what came back as JSON (result), leaving "what to assert" to the
caller. `python -m voipctl.probe.sip` is the command-line entry.
"""
