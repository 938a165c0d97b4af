"""TIXNGO ticket status logs (Reporting domain)."""
