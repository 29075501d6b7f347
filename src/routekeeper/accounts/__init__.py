"""Accounts: tenants, credentials and the authentication dependencies."""
