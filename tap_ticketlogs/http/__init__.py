"""The HTTP room: session, response errors, retries, credentials, rate limit, redaction."""
