"""The secrets store: generated once, kept in a 0600 YAML file beside the site.

Values are never printed or logged; `Secrets.__repr__` is redacted so an
accidental print or traceback shows key names only.
"""

from __future__ import annotations

import hashlib
import re
import secrets as pysecrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from voipctl.atomicfile import write_atomic
from voipctl.errors import Problem, SiteError
from voipctl.plan.model import Plan
from voipctl.site.model import Site

# One line as _write writes it: a single-quoted YAML name and value ('' is a quote), printable ASCII.
_OWN_LINE = re.compile(r"'((?:[ -&(-~]|'')+)': '((?:[ -&(-~]|'')+)'")
_KEY_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-:")


@dataclass(frozen=True)
class Secrets:
    """Read-only mapping of secret name -> value."""

    values: Mapping[str, str] = field(repr=False)

    def __getitem__(self, key: str) -> str:
        return self.values[key]

    def __repr__(self) -> str:
        return f"Secrets(keys={sorted(self.values)})"

    def subscriber(self, user: str) -> str:
        return self.values[f"subscriber:{user}"]

    @cached_property
    def fingerprint(self) -> str:
        """A digest of every name and value: a cache key for output that depends on the secrets, never shown."""
        text = "\n".join(f"{k}\t{v}" for k, v in sorted(self.values.items()))
        return hashlib.sha256(text.encode()).hexdigest()


def required_keys(site: Site, plan: Plan) -> list[str]:
    """Every secret this site needs, derived from what the plan runs."""
    keys = ["turn_secret", "topology_key"]
    if site.spec.kamailio.auth.backend != "sqlite":
        keys.append("db_password")
    if any(n.openfire for n in plan.nodes):
        keys += ["openfire_admin_password", "openfire_keystore_password", "openfire_property_key"]
        if any(n.openfire and n.openfire.db_url for n in plan.nodes):
            keys.append("openfire_db_password")
    if site.spec.pki.encrypt_root:
        keys.append("pki_root_passphrase")
    keys += [f"subscriber:{u}" for u in plan.subscribers]
    return keys


def _generate() -> str:
    return pysecrets.token_urlsafe(24)


def _own_format(text: str) -> dict[str, str] | None:
    """The store as _write writes it, read without the YAML parser (10,000 subscribers: ~0.07 s saved on
    every render). None for anything else, a repeated name included: YAML then reads it or says why not."""
    out: dict[str, str] = {}
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        found = _OWN_LINE.fullmatch(line)
        if found is None:
            return None
        key, value = (part.replace("''", "'") for part in found.groups())
        if key in out:
            return None
        out[key] = value
    return out


def _read(path: Path) -> dict[str, str]:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SiteError(
            [Problem(str(path), 1, "", f"secrets file is mode {mode:04o}; it must be 0600 (chmod 600 {path})")]
        )
    try:
        text = path.read_text()
        own = _own_format(text)
        doc = own if own is not None else YAML(typ="safe").load(text)
    except (YAMLError, UnicodeDecodeError) as exc:
        # Never echo the offending line: it may hold a secret.
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise SiteError([Problem(str(path), line, "", "secrets file is not valid YAML")]) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v and v.isprintable() for k, v in doc.items()
    ):
        raise SiteError([Problem(str(path), 1, "", "secrets file must map names to non-empty one-line strings")])
    return dict(doc)


def _quote(value: str) -> str:
    """YAML single-quoted scalar: only `'` needs escaping (doubled)."""
    return "'" + value.replace("'", "''") + "'"


def _write(path: Path, values: Mapping[str, str]) -> None:
    lines = ["# voipctl secrets: generated once, keep private (0600), never commit.\n"]
    lines += [f"{_quote(key)}: {_quote(values[key])}\n" for key in sorted(values)]
    write_atomic(path, "".join(lines).encode(), 0o600)


def ensure_secrets(path: Path, keys: Iterable[str]) -> Secrets:
    """Load the store, generating (once) any missing key; existing values never change."""
    current = _read(path) if path.exists() else {}
    missing = [k for k in keys if k not in current]
    bad = [k for k in missing if not set(k) <= _KEY_CHARS]
    if bad:
        raise SiteError([Problem(str(path), 1, "", f"cannot store secrets named {', '.join(bad)}")])
    if missing:
        current.update({k: _generate() for k in missing})
        _write(path, current)
    return Secrets(current)
