"""devuc: a self-hosted, API-compatible IAM and CodeArts User Center."""

__version__ = "0.1.0"
