"""Kairos application."""
