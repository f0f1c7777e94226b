"""Where connection time goes: DNS, TCP, TLS, auth, first query, pooled checkout."""
