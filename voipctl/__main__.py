"""`python -m voipctl` runs the CLI (tests use it to see real exit codes)."""

from voipctl.cli import run

run()
