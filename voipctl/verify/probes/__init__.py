"""Functional probes: jobs generated from the Plan, run by an executor at each vantage, judged here."""
