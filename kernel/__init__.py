"""parity kernel: the deterministic core (time, events, journal, OMS, risk, portfolio, Strategy API)."""
