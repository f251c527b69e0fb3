"""The render plan: every derived value, computed once from the Site."""
