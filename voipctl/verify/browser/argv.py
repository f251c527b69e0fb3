"""Command lines of the browser probe: pure functions, each unit-tested.

The commands run inside client namespaces through `ip netns exec` (added by
`voipctl.proc.in_netns`). None of them carries a secret.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
NSS_NICKNAME = "voipctl site root CA"

# Headless chromium with fake media and permission prompts answered; no background
# traffic (this machine has no network beyond package registries, and the probe's
# namespaces none at all), no QUIC, no GPU.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
)


def resolver_rules(names: Mapping[str, str]) -> str:
    """chromium's --host-resolver-rules value mapping each name to one address."""
    return ", ".join(f"MAP {name} {address}" for name, address in sorted(names.items()))


def chromium_args(names: Mapping[str, str]) -> list[str]:
    """Flags for chromium: the fixed set plus name mappings (the page host at least)."""
    return [*CHROMIUM_FLAGS, f"--host-resolver-rules={resolver_rules(names)}"]


def driver_argv(web_dir: Path, node: str = "node") -> list[str]:
    """The playwright-core driver; its requests (with credentials) come on stdin."""
    return [node, str(web_dir / "driver.mjs")]


def build_argv(web_dir: Path, node: str = "node") -> list[str]:
    """Bundle the page (JsSIP is CommonJS) into web/dist."""
    return [node, str(web_dir / "build.mjs")]


def nssdb_create_argv(db: Path) -> list[str]:
    """An empty NSS database without a password, where chromium looks ($HOME/.pki/nssdb)."""
    return ["certutil", "-N", "-d", f"sql:{db}", "--empty-password"]


def nssdb_add_ca_argv(db: Path, ca_file: Path) -> list[str]:
    """Trust `ca_file` to identify TLS servers (C,, : SSL trust only, not mail or code)."""
    return ["certutil", "-A", "-d", f"sql:{db}", "-n", NSS_NICKNAME, "-t", "C,,", "-i", str(ca_file)]


def nssdb_list_argv(db: Path) -> list[str]:
    return ["certutil", "-L", "-d", f"sql:{db}"]


def serve_argv(root: Path, chain: Path, key: Path, bind: str, port: int, python: str | None = None) -> list[str]:
    """The page's HTTPS server (voipctl.verify.browser.serve) inside the browser's namespace."""
    return [python or sys.executable, "-m", "voipctl.verify.browser.serve", "--root", str(root), "--cert", str(chain),
            "--key", str(key), "--bind", bind, "--port", str(port)]


def relay_sockets_argv(address: str, port_min: int, port_max: int) -> list[str]:
    """UDP sockets bound in coturn's relay range, with their process (one per live allocation)."""
    return ["ss", "-H", "-u", "-a", "-n", "-p", f"( src {address} and sport >= :{port_min} and sport <= :{port_max} )"]
