"""The auditor's report: every control traced to the rendered lines that implement it and the checks that prove it."""
