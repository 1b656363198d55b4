"""Rehearsals: the cutover plan run against a scratch target, every step timed and recorded,
so rehearsals can be compared and the real run's duration estimated.

- `run.run_rehearsal`: run and record one rehearsal (`.migrate/rehearsals/NAME.json`);
- `record`: the stored record and the list of rehearsals;
- `compare.compare`: what changed between two rehearsals, and why;
- `eta.estimate`: the expected duration of each phase, the cutover and each rollback.
"""
