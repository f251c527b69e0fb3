"""The site's private PKI: a two-tier CA under pki/<site>/, leaves per node and service.

Only `cryptography` is used (no openssl processes). Render copies the stored
bytes (voipctl.render.certs), so rendering stays byte-deterministic.
"""
