"""Writes of the contacts app, one module per sub-domain: `contacts`, `lists`, `suppressions`, `imports` and
`consent` (consent evidence and its history, opting in and out, and how a new contact starts). Import the
functions from their module, e.g. `from contacts.services.consent import contact_opt_out`."""
