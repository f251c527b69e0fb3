"""The host suite: what each node must show (from the Plan and the manifest), read over SSH by testinfra."""
