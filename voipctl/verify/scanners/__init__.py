"""External scanners verify runs against the site: sipvicious svmap and the sslyze TLS scan."""
