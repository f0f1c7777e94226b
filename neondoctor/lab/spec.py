"""How a lab cluster is configured; each field can reproduce one kind of fault."""

from __future__ import annotations

from dataclasses import dataclass, field

from neondoctor.errors import LabError


@dataclass
class LabSpec:
    """How the cluster is configured; each field can reproduce one kind of fault."""

    auth: str = "scram-sha-256"  # or "trust", "md5"
    max_connections: int = 50
    superuser_reserved_connections: int = 3
    reserved_connections: int = 0  # PostgreSQL 16+
    ssl: bool = False
    idle_session_timeout_ms: int = 0
    idle_in_transaction_session_timeout_ms: int = 0
    settings: dict[str, str] = field(default_factory=dict)

    def validate(self, major: int) -> None:
        if self.auth not in ("scram-sha-256", "md5", "trust"):
            raise LabError(f"lab auth {self.auth!r} is not one of scram-sha-256, md5, trust")
        if self.reserved_connections and major < 16:
            raise LabError(f"reserved_connections needs PostgreSQL 16+, this server is {major}")
        if self.max_connections <= self.superuser_reserved_connections + self.reserved_connections:
            raise LabError("max_connections must exceed the reserved slots")

    def conf(self, major: int) -> dict[str, str]:
        conf = {
            "max_connections": str(self.max_connections),
            "superuser_reserved_connections": str(self.superuser_reserved_connections),
            "ssl": "on" if self.ssl else "off",
            "password_encryption": "md5" if self.auth == "md5" else "scram-sha-256",
            "idle_in_transaction_session_timeout": str(self.idle_in_transaction_session_timeout_ms),
        }
        if major >= 14:
            conf["idle_session_timeout"] = str(self.idle_session_timeout_ms)
        if major >= 16:
            conf["reserved_connections"] = str(self.reserved_connections)
        if self.ssl:
            conf["ssl_cert_file"] = "'server.crt'"
            conf["ssl_key_file"] = "'server.key'"
        conf.update(self.settings)
        return conf
