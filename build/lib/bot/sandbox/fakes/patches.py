"""The three Kubernetes patch flavours, enough for the fake API server.

- JSON merge patch (RFC 7386): objects merge recursively, ``null`` deletes, lists are replaced.
- Strategic merge patch: like merge patch, but lists of objects with a ``name`` key (containers,
  env, ports) merge item by item on that key.
- JSON patch (RFC 6902): ``add``, ``replace``, ``remove`` and ``test`` operations.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["PatchError", "json_patch", "merge_patch", "strategic_merge_patch"]


class PatchError(ValueError):
    """The patch cannot be applied."""


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch; returns a new object."""
    return _merge(target, patch, strategic=False)


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Apply a strategic merge patch (lists of named objects merge by ``name``)."""
    return _merge(target, patch, strategic=True)


def _merge(target: Any, patch: Any, *, strategic: bool) -> Any:
    if isinstance(patch, list) and strategic and _named(patch) and isinstance(target, list) and _named(target):
        merged = [copy.deepcopy(item) for item in target]
        for item in patch:
            index = next((i for i, old in enumerate(merged) if old["name"] == item["name"]), None)
            if index is None:
                merged.append(copy.deepcopy(item))
            else:
                merged[index] = _merge(merged[index], item, strategic=True)
        return merged
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value, strategic=strategic)
    return result


def _named(items: list[Any]) -> bool:
    return all(isinstance(item, dict) and "name" in item for item in items)


def json_patch(target: Any, operations: list[dict[str, Any]]) -> Any:
    """Apply RFC 6902 operations; returns a new object."""
    document = copy.deepcopy(target)
    for operation in operations:
        op, path = operation.get("op"), operation.get("path", "")
        parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
        if not parts:
            raise PatchError("patching the whole document is not supported")
        parent = document
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.get(part)
            if parent is None:
                raise PatchError(f"path {path} does not exist")
        last = parts[-1]
        if op in ("add", "replace"):
            if op == "replace" and isinstance(parent, dict) and last not in parent:
                raise PatchError(f"path {path} does not exist")
            value = copy.deepcopy(operation["value"])
            if isinstance(parent, list) and op == "replace":
                parent[int(last)] = value
            elif isinstance(parent, list):
                parent.insert(len(parent) if last == "-" else int(last), value)
            else:
                parent[last] = value
        elif op == "remove":
            if isinstance(parent, list):
                del parent[int(last)]
            elif parent.pop(last, _MISSING) is _MISSING:
                raise PatchError(f"path {path} does not exist")
        elif op == "test":
            actual = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if actual != operation.get("value"):
                raise PatchError(f"test failed at {path}")
        else:
            raise PatchError(f"unsupported operation {op!r}")
    return document


_MISSING = object()
