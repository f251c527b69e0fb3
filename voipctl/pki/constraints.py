"""Name constraints of the intermediate: it can only vouch for the site's own names and addresses.

Why: the intermediate key sits on the control machine; if it leaks, a certificate it
signs for any other name must be worthless. RFC 5280 name constraints (critical) in
the intermediate make every verifier refuse such a certificate. Derived from the
plan: the site's domains (each also covers its subdomains) and every address a leaf
carries, as a single-address network.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

from cryptography import x509

from voipctl.errors import PkiError
from voipctl.plan.model import Plan
from voipctl.plan.services import CertPlan


def _covering(names: set[str]) -> list[str]:
    """The fewest domains that cover every name: a name under another listed one is dropped."""
    kept: list[str] = []
    for name in sorted(names, key=lambda n: (n.count("."), n)):
        if not any(name == k or name.endswith("." + k) for k in kept):
            kept.append(name)
    return sorted(kept)


def site_constraints(plan: Plan, site_domain: str) -> x509.NameConstraints:
    """Permitted subtrees: the site domain, every leaf's DNS names and the allowed WebSocket origins'
    hosts (verify's browser probe serves its page under one, signed by the intermediate), covered;
    every leaf's addresses."""
    names = {site_domain.lower()} | {d.lower().removeprefix("*.") for c in plan_certs(plan) for d in c.dns_names}
    names |= {h.lower() for n in plan.nodes if n.kamailio for o in n.kamailio.ws_origins
              if (h := urlsplit(o).hostname)}
    addresses = sorted({ip_address(a) for c in plan_certs(plan) for a in c.ip_addresses},
                       key=lambda a: (a.version, int(a)))
    permitted: list[x509.GeneralName] = [x509.DNSName(d) for d in _covering(names)]
    permitted += [x509.IPAddress(ip_network(a)) for a in addresses]
    return x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None)


def plan_certs(plan: Plan) -> list[CertPlan]:
    return [c for n in plan.nodes for c in n.certs]


def outside(constraints: x509.NameConstraints, dns_names: tuple[str, ...], ips: tuple[str, ...]) -> list[str]:
    """The names and addresses of a leaf that the intermediate's constraints do not permit."""
    subtrees = constraints.permitted_subtrees or []
    domains = [g.value.lower() for g in subtrees if isinstance(g, x509.DNSName)]
    networks = [g.value for g in subtrees
                if isinstance(g, x509.IPAddress) and isinstance(g.value, IPv4Network | IPv6Network)]
    bad = [d for d in dns_names
           if not any(d.lower() == k or d.lower().endswith("." + k) for k in domains)]
    bad += [a for a in ips if not any(ip_address(a) in net for net in networks)]
    return bad


def require_within(intermediate: x509.Certificate, certs: list[CertPlan]) -> None:
    """Refuse, before anything is written, leaves the intermediate may not vouch for (clients would
    reject them): the site gained a name or an address since the intermediate was made."""
    try:
        constraints = intermediate.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return  # an intermediate made before name constraints: nothing to respect
    problems = [f"{c.node} {c.service}: {', '.join(bad)}" for c in certs
                if (bad := outside(constraints, c.dns_names, c.ip_addresses))]
    if problems:
        raise PkiError("outside the intermediate CA's name constraints: " + "; ".join(problems)
                       + ". Rotate the intermediate (`voipctl pki init SITE --rotate-intermediate`), "
                       "then `voipctl pki renew SITE`")
