"""The on-machine lab: one systemd-nspawn host per plan node, on bridges, with a
resolver, an apt proxy, a NAT gateway and two client namespaces.

Pure parts (topology, inventory, argv and config builders) are separate from the
parts that touch the machine, so the former are unit-tested without root.
"""
