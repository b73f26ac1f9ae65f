"""Verify a record folder: reconcile every claim with its logs and files (see docs/verify.md)."""
