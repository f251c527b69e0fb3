"""Verify: prove that what was deployed is what the site says, and that it works."""
