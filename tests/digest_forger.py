"""A subscriber who knows only her own password tries to register another account's address.

Run by the kamailio daemon test inside its namespace:
`digest_forger.py HOST PORT BIND DOMAIN ATTACKER PASSWORD_FILE VICTIM VICTIM_PASSWORD_FILE`.
Each attempt is a REGISTER for VICTIM's address answered with a response computed from the
attacker's own HA1; the last one is the victim's own, which must succeed (proof that the digest
arithmetic here is right, so the refusals mean something); it asks for no binding (Expires: 0),
so it leaves none behind. Prints {attempt: final status}.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import socket
import sys
from pathlib import Path


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def register(sock: socket.socket, target: tuple[str, int], bind: str, domain: str, aor: str, call_id: str,
             cseq: int, auth: list[str], expires: int = 60) -> str:
    """Send one REGISTER for sip:aor@domain with these auth headers; return the final reply's text."""
    branch = "z9hG4bK" + secrets.token_hex(8)
    port = sock.getsockname()[1]
    lines = [f"REGISTER sip:{domain} SIP/2.0", f"Via: SIP/2.0/UDP {bind}:{port};rport;branch={branch}",
             "Max-Forwards: 70", f"From: <sip:{aor}@{domain}>;tag=forger", f"To: <sip:{aor}@{domain}>",
             f"Call-ID: {call_id}", f"CSeq: {cseq} REGISTER", f"Contact: <sip:{aor}@{bind}:{port}>",
             f"Expires: {expires}", "User-Agent: digest-forger", *auth, "Content-Length: 0", "", ""]
    sock.sendto("\r\n".join(lines).encode(), target)
    while True:
        reply = sock.recv(65535).decode(errors="replace")
        if not reply.startswith("SIP/2.0 1"):
            return reply


def digest(user: str, ha1: str, realm: str, nonce: str, uri: str, header: str = "Authorization") -> str:
    cnonce, nc = secrets.token_hex(8), "00000001"
    response = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{md5('REGISTER:' + uri)}")
    return (f'{header}: Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{response}", algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}"')


def main() -> int:
    host, port, bind, domain, attacker, pw_file, victim, victim_pw_file = sys.argv[1:9]
    target = (host, int(port))
    own_ha1 = md5(f"{attacker}:{domain}:{Path(pw_file).read_text().strip()}")
    victim_ha1 = md5(f"{victim}:{domain}:{Path(victim_pw_file).read_text().strip()}")
    uri = f"sip:{domain}"
    attempts = {
        # her own name in the credentials, the victim's address in From/To
        "own-credentials-for-victim": lambda nonce: [digest(attacker, own_ha1, domain, nonce, uri)],
        # the victim's name in the credentials, answered with her own secret
        "victim-name-own-secret": lambda nonce: [digest(victim, own_ha1, domain, nonce, uri)],
        # as above, with a Proxy-Authorization naming herself placed where $au would read it
        "decoy-proxy-authorization": lambda nonce: [
            digest(attacker, own_ha1, "decoy.invalid", nonce, uri, "Proxy-Authorization"),
            digest(victim, own_ha1, domain, nonce, uri)],
        "victim-own-password": lambda nonce: [digest(victim, victim_ha1, domain, nonce, uri)],
    }
    result = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((bind, 0))
        sock.settimeout(3)
        for name, headers in attempts.items():
            call_id = secrets.token_hex(12)
            challenge = register(sock, target, bind, domain, victim, call_id, 1, [])
            found = re.search(r'nonce="([^"]+)"', challenge)
            if not challenge.startswith("SIP/2.0 401") or found is None:
                result[name] = {"error": challenge.split("\r\n", 1)[0]}
                continue
            final = register(sock, target, bind, domain, victim, call_id, 2, headers(found.group(1)),
                             0 if name == "victim-own-password" else 60)
            result[name] = int(final.split(" ", 2)[1])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
