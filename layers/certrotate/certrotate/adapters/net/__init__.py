"""Plain network: TLS handshakes with the endpoints (tls_probe), and the trust roots' files."""
