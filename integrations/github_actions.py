"""Deploy, roll back, scale and migrate by dispatching GitHub Actions workflows.

Each operation starts a ``workflow_dispatch`` run with string inputs ``service``, ``environment``,
``version`` and ``request_id`` (plus ``replicas`` for scale). GitHub has no idempotency key, so
the workflow must put the request id in its run name (``run-name: deploy ${{ inputs.service }}
${{ inputs.version }} [${{ inputs.request_id }}]``); Opscord finds the run by it when the server
does not return run details. The run is then polled until it completes; its head commit's time is
reported (`details["committed_at"]`) for lead time. Whatever GitHub echoes back (the token
included) is scrubbed before it reaches a sentence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from integrations._names import checked_name, segment
from integrations.base import Action, OneEntryProvider, OperationRequest, OperationResult, ProviderPlan
from integrations.errors import ProviderFailed, UpstreamRefused, UpstreamTimeout
from integrations.http import HttpClient
from integrations.progress import report_link
from integrations.scrub import Scrubber, scrubbed
from integrations.timing import Clock, Deadline, Sleep, default_clock, default_sleep

__all__ = ["GitHubActionsDeployer"]

_WORKFLOW = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")
_SYSTEM: Final = "GitHub"


class GitHubActionsDeployer(OneEntryProvider):
    """Runs one workflow per operation; implements Deployer, Scaler and Migrator.

    Args:
        http: The shared HTTP client.
        repository: ``owner/name``.
        workflows: Workflow file name (or id) per action. Without a ``rollback`` workflow, rollback
            runs the ``deploy`` workflow with the previous version.
        token: The API token (resolved from its environment variable by the factory).
        ref: Git ref the workflow runs on.
        inputs: Constant extra inputs sent with every dispatch.
        api_url: API base URL (GitHub Enterprise or a local fake).
        budget: Seconds to wait for a run to complete.
        find_run_timeout: Seconds to look for a dispatched run before giving up.
    """

    def __init__(
        self,
        http: HttpClient,
        *,
        repository: str,
        workflows: Mapping[Action, str],
        token: str,
        ref: str = "main",
        inputs: Mapping[str, str] | None = None,
        api_url: str = "https://api.github.com",
        timeout: float = 10.0,
        budget: float = 1800.0,
        poll_interval: float = 10.0,
        find_run_timeout: float = 60.0,
        sleep: Sleep = default_sleep,
        clock: Clock = default_clock,
    ) -> None:
        owner, _, name = repository.partition("/")
        self.repo_path = f"{segment(owner)}/{segment(name)}"
        self.repository = repository
        self.workflows = {a: checked_name(_SYSTEM, "workflow", w, _WORKFLOW) for a, w in workflows.items()}
        self.ref = ref
        self.inputs = dict(inputs or {})
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.budget = budget
        self.poll_interval = poll_interval
        self.find_run_timeout = find_run_timeout
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        self._run_details = True  # cleared once the server rejects return_run_details
        self.scrubber = Scrubber([token])
        self._http = http.scrubbing(self.scrubber)
        self._sleep = sleep
        self._clock = clock

    @property
    def supported_actions(self) -> frozenset[Action]:
        """Actions with a workflow; rollback can reuse the deploy workflow."""
        actions: set[Action] = set(self.workflows)
        if "deploy" in self.workflows:
            actions.add("rollback")
        return frozenset(actions)

    def _plan(self, request: OperationRequest) -> tuple[str, dict[str, str]]:
        """Pick the workflow and its inputs for ``request``."""
        inputs = {**self.inputs, "service": request.service, "environment": request.environment,
                  "request_id": request.request_id}
        version = request.version
        workflow = self.workflows.get(request.action)
        if request.action == "rollback":
            version = request.previous_version
            if workflow is None:
                workflow = self.workflows.get("deploy")
                if version is None:
                    raise ProviderFailed(_SYSTEM, f"GitHub Actions cannot roll back {request.service}: "
                                                  "no previous version is known and no rollback workflow is set")
        if workflow is None:
            raise ProviderFailed(_SYSTEM, f"No GitHub Actions workflow is configured to {request.action}")
        if version is not None:
            inputs["version"] = version
        if request.action == "scale" and request.replicas is not None:
            inputs["replicas"] = str(request.replicas)
        return workflow, inputs

    async def plan(self, request: OperationRequest) -> ProviderPlan:
        """The workflow, ref and repository it dispatches, and the version input it sends (no call made)."""
        workflow, inputs = self._plan(request)
        sent = f" with version {inputs['version']}" if "version" in inputs else ""
        sent += f" with replicas {inputs['replicas']}" if "replicas" in inputs else ""
        return ProviderPlan((f"GitHub Actions: {workflow} on {self.ref} in {self.repository}{sent}",))

    @scrubbed
    async def _operate(self, request: OperationRequest) -> OperationResult:
        """Dispatch, find the run, follow it to completion."""
        workflow, inputs = self._plan(request)
        deadline = Deadline(self.budget, self._clock)
        dispatched_at = datetime.now(UTC)
        run_id = await self._dispatch(workflow, inputs)
        if run_id is None:
            run_id = await self._find_run(workflow, request.request_id, dispatched_at)
        run = await self._follow(run_id, deadline, request.describe())
        number = run.get("run_number", run_id)
        url = run.get("html_url")
        details = {"run_id": run_id, "conclusion": run.get("conclusion"), "workflow": workflow,
                   "committed_at": _commit_time(run)}
        if run.get("conclusion") == "success":
            return OperationResult(True, f"The {request.describe()} succeeded (GitHub Actions run #{number}).",
                                   url=url, details=details)
        return OperationResult(
            False, f"The {request.describe()} failed: GitHub Actions run #{number} ended with "
                   f"{run.get('conclusion') or 'no conclusion'}.", url=url, details=details)

    async def _dispatch(self, workflow: str, inputs: dict[str, str]) -> int | None:
        """Start the workflow; return the run id when the server tells it."""
        url = f"{self.api_url}/repos/{self.repo_path}/actions/workflows/{segment(workflow)}/dispatches"
        body: dict[str, Any] = {"ref": self.ref, "inputs": inputs}
        if self._run_details:
            body["return_run_details"] = True
        try:
            answer = await self._http.request(_SYSTEM, "POST", url, json=body, headers=self._headers,
                                              timeout=self.timeout, expected=(200, 204), what="workflow dispatch")
        except UpstreamRefused as exc:
            if self._run_details and exc.status in (400, 422) and "return_run_details" in exc.upstream_message:
                self._run_details = False
                return await self._dispatch(workflow, inputs)
            raise self._explain(exc, workflow) from None
        if answer.status == 200 and answer.body.strip():
            run_id = answer.json().get("workflow_run_id")
            return int(run_id) if isinstance(run_id, int) else None
        return None

    async def _find_run(self, workflow: str, request_id: str, since: datetime) -> int:
        """Look for the run whose name carries ``request_id``."""
        url = f"{self.api_url}/repos/{self.repo_path}/actions/workflows/{segment(workflow)}/runs"
        created = (since - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        params = {"event": "workflow_dispatch", "created": f">={created}", "per_page": "50"}
        deadline = Deadline(self.find_run_timeout, self._clock)
        while True:
            answer = await self._http.request(_SYSTEM, "GET", url, params=params, headers=self._headers,
                                              timeout=self.timeout, retry_safe=True, expected=(200,),
                                              what="run listing")
            for run in answer.json().get("workflow_runs", []):
                title = f"{run.get('display_title') or ''} {run.get('name') or ''}"
                if request_id in title and isinstance(run.get("id"), int):
                    return int(run["id"])
            if deadline.remaining() <= 0:
                raise UpstreamTimeout(
                    _SYSTEM, f"GitHub started {workflow}, but its run for request {request_id} did not appear "
                             f"within {self.find_run_timeout:g} s (does the workflow's run-name include "
                             "inputs.request_id?)")
            await self._sleep(min(self.poll_interval, 3.0))

    async def _follow(self, run_id: int, deadline: Deadline, what: str) -> dict[str, Any]:
        """Poll the run until it completes or the budget ends."""
        url = f"{self.api_url}/repos/{self.repo_path}/actions/runs/{run_id}"
        linked = False
        while True:
            answer = await self._http.request(_SYSTEM, "GET", url, headers=self._headers, timeout=self.timeout,
                                              retry_safe=True, expected=(200,), what="run status request")
            run: dict[str, Any] = answer.json()
            if isinstance(run.get("html_url"), str) and not linked:
                report_link(run["html_url"])
                linked = True
            if run.get("status") == "completed":
                return run
            if deadline.remaining() <= self.poll_interval:
                raise UpstreamTimeout(
                    _SYSTEM, f"The {what} was still {run.get('status', 'running')} on GitHub Actions after "
                             f"{self.budget:g} s; follow it at {run.get('html_url', 'GitHub')}")
            await self._sleep(self.poll_interval)

    def _explain(self, exc: UpstreamRefused, workflow: str) -> UpstreamRefused:
        """Turn GitHub's known dispatch refusals into clear sentences."""
        message = exc.upstream_message
        if "workflow_dispatch" in message:
            sentence = f"GitHub refused to start {workflow}: the workflow has no workflow_dispatch trigger"
        elif "Unexpected inputs" in message:
            sentence = (f"GitHub refused to start {workflow}: the workflow does not accept the inputs "
                        f"Opscord sends ({message})")
        elif exc.status == 404:
            sentence = f"GitHub cannot find workflow {workflow} in {self.repository} (or the token cannot see it)"
        elif exc.status == 401:
            sentence = f"GitHub rejected the token (401: {message or 'Bad credentials'})"
        elif exc.status == 403 and exc.retry_after is None:
            sentence = f"GitHub refused access to {self.repository} (403: {message or 'forbidden'})"
        else:
            return exc
        return UpstreamRefused(_SYSTEM, sentence, status=exc.status, upstream_message=message,
                               retry_after=exc.retry_after)


def _commit_time(run: Mapping[str, Any]) -> str | None:
    """When the run's head commit was made (its `head_commit.timestamp`): the start of a change's lead time."""
    head = run.get("head_commit")
    stamp = head.get("timestamp") if isinstance(head, Mapping) else None
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
