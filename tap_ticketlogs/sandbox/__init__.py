"""A deterministic local simulator of the four vendor APIs (``tap-ticketlogs-sandbox``)."""
