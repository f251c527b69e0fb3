"""Deploy: push a rendered site to its hosts with Ansible (playbooks/site.yml).

Pure parts (vars from the manifest, ansible argv/env, event and recap parsing)
are separate from the parts that run ansible-playbook, so they are unit-tested
without hosts. Exit codes of `voipctl deploy` (DeployFailed, HostsUnreachable) are in voipctl.errors.
"""
