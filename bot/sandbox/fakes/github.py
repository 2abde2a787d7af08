"""A fake GitHub Actions API: workflow dispatch, run listing and run status."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from bot.sandbox.fakes.base import FAKE_TOKEN, FakeServer

__all__ = ["FakeGitHub", "FakeWorkflow"]

_DEFAULT_INPUTS = ("service", "environment", "version", "request_id", "replicas")


@dataclass
class FakeWorkflow:
    """A workflow file in a repository.

    ``run_name`` is rendered with the inputs like a workflow's ``run-name``; ``conclusion`` is what
    its runs end with; ``dispatch`` False means no ``workflow_dispatch`` trigger.
    """

    repository: str
    file: str
    inputs: tuple[str, ...] = _DEFAULT_INPUTS
    dispatch: bool = True
    conclusion: str = "success"
    run_name: str = "{action} {service} {version} [{request_id}]"
    runs: list[int] = field(default_factory=list)
    commit_age_seconds: float = 7200.0
    """How long before a dispatch its ref's head commit was made (the run's `head_commit.timestamp`)."""


class FakeGitHub(FakeServer):
    """GitHub's Actions endpoints, checking the bearer token and the dispatch contract.

    Args:
        token: The only accepted token.
        return_run_details: Whether dispatch accepts ``return_run_details`` (older servers refuse it
            with 422).
        run_polls: Status reads before a run completes (queued → in_progress → completed).
        listing_lag: Run listings that do not show a new run yet.

    Attributes:
        workflows: ``(repository, file)`` → ``FakeWorkflow``.
        runs: run id → the run object served.
    """

    def __init__(self, token: str = FAKE_TOKEN, *, return_run_details: bool = False, run_polls: int = 2,
                 listing_lag: int = 0) -> None:
        super().__init__()
        self.token = token
        self.return_run_details = return_run_details
        self.run_polls = run_polls
        self.listing_lag = listing_lag
        self.workflows: dict[tuple[str, str], FakeWorkflow] = {}
        self.runs: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1001)
        self._reads: dict[int, int] = {}
        self._listings: dict[int, int] = {}

    def add_workflow(self, repository: str, file: str, **options: Any) -> FakeWorkflow:
        """Add a dispatchable workflow (see ``FakeWorkflow`` for the options)."""
        workflow = FakeWorkflow(repository, file, **options)
        self.workflows[(repository, file)] = workflow
        return workflow

    def error_body(self, status: int, message: str) -> Any:
        """GitHub's error shape."""
        return {"message": message, "documentation_url": "https://docs.github.com/rest", "status": str(status)}

    def setup_routes(self, app: web.Application) -> None:
        """Dispatch, list runs, get a run."""
        base = "/repos/{owner}/{repo}/actions"
        app.router.add_post(base + "/workflows/{workflow}/dispatches", self._dispatch)
        app.router.add_get(base + "/workflows/{workflow}/runs", self._list_runs)
        app.router.add_get(base + "/runs/{run_id:\\d+}", self._get_run)

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    def _workflow(self, request: web.Request) -> FakeWorkflow | None:
        repository = f"{request.match_info['owner']}/{request.match_info['repo']}"
        return self.workflows.get((repository, request.match_info["workflow"]))

    async def _dispatch(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self.error(401, "Bad credentials")
        workflow = self._workflow(request)
        if workflow is None:
            return self.error(404, "Not Found")
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self.error(400, "Problems parsing JSON")
        allowed = {"ref", "inputs"} | ({"return_run_details"} if self.return_run_details else set())
        extra = sorted(set(body) - allowed)
        if extra:
            return self.error(422, f'Invalid request.\n\n"{extra[0]}" is not a permitted key.')
        if not workflow.dispatch:
            return self.error(422, "Workflow does not have 'workflow_dispatch' trigger")
        if not isinstance(body.get("ref"), str):
            return self.error(422, "Invalid request.\n\n\"ref\" wasn't supplied.")
        inputs = body.get("inputs") or {}
        unexpected = sorted(set(inputs) - set(workflow.inputs))
        if unexpected:
            return self.error(422, f"Unexpected inputs provided: {json.dumps(unexpected)}")
        if not all(isinstance(v, str) for v in inputs.values()):
            return self.error(422, "Invalid request.\n\nFor 'properties/inputs', values must be strings.")
        run = self._create_run(workflow, inputs)
        if body.get("return_run_details"):
            return self.json_response(200, {"workflow_run_id": run["id"], "run_url": run["url"],
                                            "html_url": run["html_url"]})
        return web.Response(status=204)

    def _create_run(self, workflow: FakeWorkflow, inputs: dict[str, str]) -> dict[str, Any]:
        run_id = next(self._ids)
        values = {"action": workflow.file.rsplit(".", 1)[0], **inputs}
        committed = datetime.now(UTC) - timedelta(seconds=workflow.commit_age_seconds)
        sha = f"{run_id:040x}"
        title = workflow.run_name.format_map(_Blank(values))
        run = {
            "id": run_id, "run_number": len(self.runs) + 1, "name": workflow.file, "display_title": title,
            "event": "workflow_dispatch", "status": "queued", "conclusion": None, "inputs": inputs,
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "head_sha": sha,
            "head_commit": {"id": sha, "tree_id": sha, "message": "Change to deploy",
                            "timestamp": committed.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "author": {"name": "Dev", "email": "dev@example.com"},
                            "committer": {"name": "Dev", "email": "dev@example.com"}},
            "url": f"{self.base_url}/repos/{workflow.repository}/actions/runs/{run_id}",
            "html_url": f"{self.base_url}/{workflow.repository}/actions/runs/{run_id}",
            "_conclusion": workflow.conclusion,
        }
        self.runs[run_id] = run
        workflow.runs.append(run_id)
        self._reads[run_id] = 0
        self._listings[run_id] = 0
        return run

    async def _list_runs(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self.error(401, "Bad credentials")
        workflow = self._workflow(request)
        if workflow is None:
            return self.error(404, "Not Found")
        event = request.query.get("event")
        visible = []
        for run_id in reversed(workflow.runs):
            self._listings[run_id] += 1
            run = self.runs[run_id]
            if self._listings[run_id] > self.listing_lag and (event is None or run["event"] == event):
                visible.append(_public(run))
        return self.json_response(200, {"total_count": len(visible), "workflow_runs": visible})

    async def _get_run(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self.error(401, "Bad credentials")
        run_id = int(request.match_info["run_id"])
        run = self.runs.get(run_id)
        if run is None:
            return self.error(404, "Not Found")
        self._reads[run_id] += 1
        if self._reads[run_id] >= self.run_polls:
            run.update(status="completed", conclusion=run["_conclusion"])
        else:
            run["status"] = "in_progress"
        return self.json_response(200, _public(run))


def _public(run: dict[str, Any]) -> dict[str, Any]:
    """The run without the fake's private keys."""
    return {k: v for k, v in run.items() if not k.startswith("_")}


class _Blank(dict[str, str]):
    """format_map helper: unknown names render empty."""

    def __missing__(self, key: str) -> str:
        return ""
