"""Writes of the campaigns app, one module per sub-domain: `lifecycle` (the status state machine: schedule,
send now, launch, pause, resume, cancel, complete), `drafts` (create, edit, delete, and the checks on a draft's
body, sender and name) and `quick_send`. Import the functions from their module, e.g.
`from campaigns.services.lifecycle import campaign_launch`."""
