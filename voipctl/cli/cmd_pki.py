"""`voipctl pki init|issue|renew|revoke|status`: the site's private CA and its certificates."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from voipctl import pipeline
from voipctl.cli import err_console, out_console
from voipctl.cli.cmd_deploy import EXIT_CODES, deploy_and_report
from voipctl.cli.options import PKI_OPT, SITE_ARG
from voipctl.deploy.session import DeployOptions
from voipctl.errors import UsageError
from voipctl.pki import keys
from voipctl.pki.ca import init_ca, load_ca
from voipctl.pki.constraints import site_constraints
from voipctl.pki.crl import ensure_root_crl, intermediate_crl_due, refresh_intermediate_crl
from voipctl.pki.issue import issue_site
from voipctl.pki.passphrase import HINT, read_passphrase
from voipctl.pki.passphrase import passphrase_file as file_of_passphrase
from voipctl.pki.revoke import revoke as revoke_serials
from voipctl.pki.status import CertStatus, collect_crl_status, collect_status, require_healthy
from voipctl.pki.store import CERT_FILE, PkiLayout, is_encrypted, layout, load_cert, read_origin
from voipctl.plan.model import Plan

PASSPHRASE_OPT = click.option(
    "--passphrase-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help="0600 file whose first line is the CA keys' passphrase (else $VOIPCTL_PKI_PASSPHRASE_FILE, "
         "else asked on a terminal). Never given on the command line itself.")


def _say(text: str) -> None:
    out_console.print(text, markup=False)


def _passphrase(option: Path | None, confirm: bool) -> str | None:
    """The CA passphrase from the file (option or environment), else typed at a terminal, else None."""
    path = file_of_passphrase(option)
    if path is not None:
        return read_passphrase(path)
    if not sys.stdin.isatty():
        return None
    typed: str = click.prompt("CA key passphrase", hide_input=True, confirmation_prompt=confirm, err=True)
    if not typed.strip():
        raise UsageError("empty CA key passphrase")
    return typed.strip()


def _ca_passphrase(lay: PkiLayout, option: Path | None) -> str | None:
    """What issuing needs: the passphrase when the intermediate key is encrypted, else nothing."""
    if not is_encrypted(lay.intermediate_key):
        return None
    found = _passphrase(option, confirm=False)
    if found is None:
        raise UsageError(f"the intermediate CA key {lay.intermediate_key} is encrypted: {HINT}")
    return found


@click.group()
def pki() -> None:
    """Private two-tier CA and TLS certificates for kamailio, coturn and Openfire."""


@pki.command()
@SITE_ARG
@PKI_OPT
@click.option("--rotate-intermediate", is_flag=True,
              help="Retire the intermediate CA and create a new one limited to the site's current names and "
                   "addresses (needs the root key); then `pki renew` re-issues every leaf under it.")
@PASSPHRASE_OPT
@click.option("--unencrypted-keys", is_flag=True, help="Store new CA keys unencrypted (not recommended).")
def init(site: Path, pki_dir: Path, rotate_intermediate: bool, passphrase_file: Path | None,
         unencrypted_keys: bool) -> None:
    """Create the root and intermediate CA (once; an existing CA is left unchanged).

    The intermediate is name-constrained to the site's domains and node addresses. Both CA keys
    are stored encrypted with the passphrase from --passphrase-file, $VOIPCTL_PKI_PASSPHRASE_FILE
    or the terminal; existing unencrypted CA keys are encrypted too.
    """
    loaded, plan = pipeline.load_and_plan(site)
    key_passphrase = None if unencrypted_keys else _passphrase(passphrase_file, confirm=True)
    if key_passphrase is None and not unencrypted_keys:
        raise UsageError(f"CA keys are stored encrypted: {HINT} (or pass --unencrypted-keys)")
    passphrase = None
    if loaded.spec.pki.encrypt_root:
        passphrase = pipeline.secrets_for(loaded, plan)["pki_root_passphrase"]
    lay = layout(pki_dir, loaded.name)
    now = datetime.now(UTC)
    done = init_ca(lay, loaded.name, loaded.spec.pki.root_key, passphrase, now,
                   site_constraints(plan, loaded.spec.domain), rotate_intermediate, key_passphrase)
    crls = [ensure_root_crl(lay, passphrase if passphrase is not None else key_passphrase, now)]
    if intermediate_crl_due(lay, now):
        crls.append(refresh_intermediate_crl(lay, load_ca(lay, loaded.name, key_passphrase), now))
    done += [line for line in crls if line is not None]
    for line in done:
        _say(f"{line} under {lay.root}")
    if not done:
        _say(f"CA for site {loaded.name} already exists under {lay.root}; nothing changed")
    have = keys.kind_of(load_cert(lay.root_cert).public_key())
    if have != loaded.spec.pki.root_key:
        err_console.print(f"note: the existing root key is {have}; pki.root_key {loaded.spec.pki.root_key} "
                          "only applies when a new CA is created", markup=False)


@pki.command()
@SITE_ARG
@PKI_OPT
@PASSPHRASE_OPT
def issue(site: Path, pki_dir: Path, passphrase_file: Path | None) -> None:
    """Issue or renew every leaf the plan needs (or install bring-your-own material)."""
    _issue(site, pki_dir, passphrase_file)


def _issue(site: Path, pki_dir: Path, passphrase_file: Path | None) -> int:
    """Issue what is missing or due; the number of certificates whose files changed."""
    loaded, plan = pipeline.load_and_plan(site)
    secrets = pipeline.secrets_for(loaded, plan)
    password = secrets["openfire_keystore_password"] if any(n.openfire for n in plan.nodes) else None
    lay = layout(pki_dir, loaded.name)
    now, ca_passphrase = datetime.now(UTC), _ca_passphrase(lay, passphrase_file)
    results = issue_site(loaded, plan, lay, password, now, ca_passphrase)
    for r in results:
        _say(f"{r.action:9} {r.node:14} {r.service:9} {r.reason}")
    changed = sum(1 for r in results if r.written)
    _say(f"{len(results)} certificates, {changed} changed")
    crl = refresh_intermediate_crl(lay, load_ca(lay, loaded.name, ca_passphrase), now) \
        if intermediate_crl_due(lay, now) else None
    if crl is not None:
        _say(crl)
        deployed = any(c.crl_path for n in plan.nodes for c in n.certs)
        changed += 1 if deployed else 0  # a new CRL is deployed only where a service verifies peers
    return changed


@pki.command(epilog=EXIT_CODES)
@SITE_ARG
@PKI_OPT
@click.option("-i", "--inventory", type=click.Path(path_type=Path), default=None,
              help="Ansible inventory (default: the site's lab inventory while `voipctl lab up` runs).")
@click.option("-o", "--render-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Render directory deploy uses (default: build/SITE).")
@PASSPHRASE_OPT
def renew(site: Path, pki_dir: Path, inventory: Path | None, render_dir: Path | None,
          passphrase_file: Path | None) -> None:
    """Renew only the certificates that are due (missing, past 2/3 of their life, or no longer matching
    the plan) and the CRL past half its life, then deploy them: the daemons reload their TLS material
    without a restart.

    Nothing due: nothing is deployed. Meant for a daily timer on the control machine (see README).
    """
    if _issue(site, pki_dir, passphrase_file) == 0:
        _say("nothing due: no deploy")
        return
    deploy_and_report(site, DeployOptions(inventory=inventory, render_dir=render_dir, pki_dir=pki_dir))


def _revocation_targets(plan: Plan, lay: PkiLayout, target: str) -> dict[int, str]:
    """SERVICE: the current issued leaf of that service on every node; else a hex serial."""
    if target in ("kamailio", "coturn", "openfire"):
        found = {}
        for cert in (c for n in plan.nodes for c in n.certs if c.service == target):
            path = lay.leaf_dir(cert.node, cert.service) / CERT_FILE
            if read_origin(lay, cert.node, cert.service) == "issued" and path.exists():
                found[load_cert(path).serial_number] = f"{cert.node} {cert.service}"
        if not found:
            raise UsageError(f"no issued {target} certificate of this site to revoke")
        return found
    try:
        return {int(target.removeprefix("0x").replace(":", ""), 16): "serial given"}
    except ValueError:
        raise UsageError(f"{target!r}: give kamailio, coturn, openfire or a certificate serial in hex") from None


@pki.command()
@SITE_ARG
@click.argument("target")
@PKI_OPT
@PASSPHRASE_OPT
def revoke(site: Path, target: str, pki_dir: Path, passphrase_file: Path | None) -> None:
    """Revoke TARGET (a service's current certificates, or a serial in hex) and re-sign the CRL.

    `voipctl pki renew SITE` then replaces the revoked leaves (new keys) and deploys them.
    """
    loaded, plan = pipeline.load_and_plan(site)
    lay = layout(pki_dir, loaded.name)
    serials = _revocation_targets(plan, lay, target)
    ca = load_ca(lay, loaded.name, _ca_passphrase(lay, passphrase_file))
    for line in revoke_serials(lay, ca, serials, datetime.now(UTC)):
        _say(line)
    _say(f"next: voipctl pki renew {site}")


def _row_lines(row: CertStatus) -> list[str]:
    if row.not_after is None:
        return [f"{row.label:22} {row.state.upper():8} {row.note}"]
    end, what = ("next update", "") if row.crl else ("not after", "subject ")
    head = (f"{row.label:22} {row.state.upper():8} {row.days_left:>5} days left  "
            f"{end} {row.not_after:%Y-%m-%d %H:%M} UTC  {what}{row.subject}  issuer {row.issuer}")
    lines = [head]
    if row.sans:
        lines.append(f"{'':22} SANs: {', '.join(row.sans)}")
    if row.note:
        lines.append(f"{'':22} note: {row.note}")
    return lines


@pki.command()
@SITE_ARG
@PKI_OPT
@click.option(
    "--strict", is_flag=True,
    help="Exit 1 if any certificate is expired, expires within 30 days, is missing or revoked, or a CRL is stale.")
def status(site: Path, pki_dir: Path, strict: bool) -> None:
    """List every certificate of the site with its names, issuer and days left."""
    loaded, plan = pipeline.load_and_plan(site)
    lay, now = layout(pki_dir, loaded.name), datetime.now(UTC)
    rows = collect_status(plan, lay, now) + collect_crl_status(lay, now)
    for row in rows:
        for line in _row_lines(row):
            _say(line)
    if strict:
        require_healthy(rows)


def register(group: click.Group) -> None:
    group.add_command(pki)
