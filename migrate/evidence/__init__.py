"""Evidence of a phase: the canonical record people sign (`record`), the pack an auditor
receives (`pack`), and its offline check (`check`)."""
