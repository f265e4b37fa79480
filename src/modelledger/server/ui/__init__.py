"""The web UI: server-rendered pages for the reviewer, the approver, the auditor and the
on-call engineer, under ``/ui`` of ``mledger server`` (and of ``mledger ui``)."""
