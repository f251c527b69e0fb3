"""Certificates and TLS settings of a node's services: names, addresses, paths, ciphers, CRL.

Split from plan.build so the address facts a certificate carries (client and advertised
addresses) are computed in one place that build and the certificate plan share.
"""

from __future__ import annotations

from ipaddress import ip_address

from voipctl.plan.services import CertPlan, CertService, TlsPlan
from voipctl.site.model import Site
from voipctl.site.spec import NodeSpec

TLS_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
    ]
)


def fqdn(site: Site, node: NodeSpec) -> str:
    return node.fqdn or f"{node.name}.{site.spec.domain}"


def client_address(node: NodeSpec) -> str:
    """The interface address clients reach (directly, or through the 1:1 NAT)."""
    return str(node.public if node.public is not None else node.private)


def advertised(node: NodeSpec) -> str:
    return str(node.nat if node.nat is not None else client_address(node))


def cert_plan(site: Site, node: NodeSpec, service: CertService, owner: str, dns: list[str],
              client_auth: bool) -> CertPlan:
    base = {
        "kamailio": "/etc/kamailio/tls",
        "coturn": "/etc/coturn/tls",
        "openfire": "/etc/openfire/security",
    }[service]
    ips = sorted({client_address(node), advertised(node)}, key=lambda a: ip_address(a).packed)
    names = tuple(dict.fromkeys(d for d in dns))
    return CertPlan(
        service=service,
        node=node.name,
        common_name=next((n for n in names if len(n) <= 64), f"{service}.{node.name}"),  # X.509 CN limit
        dns_names=names,
        ip_addresses=tuple(ips),
        client_auth=client_auth,
        key_path=f"{base}/privkey.pem",
        cert_path=f"{base}/cert.pem",
        chain_path=f"{base}/fullchain.pem",
        ca_path=f"{base}/ca.pem",
        owner=owner,
        group=owner,
        crl_path=f"{base}/crl.pem" if verifies_peers(site, service) else None,
    )


def verifies_peers(site: Site, service: CertService) -> bool:
    """Which services check certificates against the site CA, and so must honour its CRL: kamailio with
    `tls_peer_verify` (client certificates, TLS peering). coturn asks TURN clients for no certificate and
    Openfire neither for XMPP clients' nor (federation) for the site CA's: neither verifies a site leaf."""
    return service == "kamailio" and site.spec.kamailio.tls_peer_verify


def tls_plan(site: Site, cert: CertPlan) -> TlsPlan:
    verify = site.spec.kamailio.tls_peer_verify
    return TlsPlan(min_version="TLSv1.2", ciphers=TLS_CIPHERS, verify_peer=verify, cert=cert)
