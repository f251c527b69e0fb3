"""Outcomes of every verify part and the report made from them (table, JSON, JUnit XML)."""
