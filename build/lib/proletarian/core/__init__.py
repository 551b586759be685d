"""Pure domain: jobs, retry policies and decisions. No I/O, no clock, no randomness."""
