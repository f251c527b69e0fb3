"""Deploy: push a rendered site to its hosts with Ansible (playbooks/site.yml).

Pure parts (vars from the manifest, ansible argv/env, event and recap parsing)
are separate from the parts that run ansible-playbook, so they are unit-tested
without hosts. Exit codes of `voipctl deploy` come from the errors below.
"""

from __future__ import annotations

from voipctl.errors import VoipctlError


class DeployFailed(VoipctlError):
    """At least one host failed its deploy; each was rolled back to its previous files where it had any."""

    exit_code = 4


class HostsUnreachable(VoipctlError):
    """No host failed, but at least one could not be reached (SSH)."""

    exit_code = 5
