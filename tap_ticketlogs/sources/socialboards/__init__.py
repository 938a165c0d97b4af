"""Socialboards tickets and ticket logs (Ticket API v2)."""
