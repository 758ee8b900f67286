"""Contact Key Verification on top of the KEYTRANS directory: account keys
that sign device sets, a verifying client with alerts, verification codes,
and the directory's HTTP service."""
