"""Singer tap for ticket and transaction logs of four vendor REST APIs."""
