"""Webhooks: the event outbox, endpoints, signing and delivery."""
