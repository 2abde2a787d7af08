"""What a provider is handed for an operation: the request, in the providers' own terms.

For a rollback, the providers read `previous_version` as the version to go back to (GitHub
Actions dispatches its deploy workflow with it when no rollback workflow is set; Kubernetes and
Argo CD look for that revision in their history). An operation stores the other way round: its
`version` is what it rolls back to, its `previous_version` what was running when it was asked.
So a rollback's request carries the operation's `version` in both; a deploy's carries what ran
before it, for workflows that want to know.
"""

from __future__ import annotations

from bot.store import Operation
from integrations.base import Action, OperationRequest


def provider_request(op: Operation, action: Action) -> OperationRequest:
    """The request `op` is run (or planned) as, `action` being the provider method it goes to."""
    back_to = op.version if op.action == "rollback" else op.previous_version
    return OperationRequest(request_id=op.id, action=action, service=op.service, environment=op.environment,
                            version=op.version, replicas=op.replicas, previous_version=back_to,
                            requester=op.requester_name)
