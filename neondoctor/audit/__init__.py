"""Static audits: a connection string (`url_audit`) and a repository's committed credentials (`secrets`)."""
