"""Render: Plan (+ secrets, + PKI material) -> in-memory file tree. No disk writes here."""
