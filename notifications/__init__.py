"""Outbox dispatcher, push gateways, receipts and scheduled jobs."""
