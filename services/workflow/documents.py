"""Export and import: a portable JSON document of a workflow (optionally with its versions).

Secrets are never exported: the graph refers to credentials by service type and name, the document lists
those references, and import can re-bind each to a credential name of the importing organization. Any
inline value under a secret-looking key is removed on export (see redaction.py).
"""

from __future__ import annotations

import copy

from services.common.caller import Caller
from services.common.errors import InvalidArgument
from services.workflow.redaction import strip_secrets
from services.workflow.workflows import Workflows

FORMAT = "agentic.workflow/v1"
MAX_IMPORTED_VERSIONS = 500


def credential_references(flow: dict) -> list[dict]:
    refs = []
    for node in flow.get("nodes", []):
        ref = (node.get("data") or {}).get("credential")
        if isinstance(ref, dict) and ref.get("service_type") and ref.get("name"):
            refs.append({"node_id": node["id"], "service_type": ref["service_type"], "name": ref["name"]})
    return refs


def rebind(flow: dict, bindings: dict[str, str]) -> dict:
    flow = copy.deepcopy(flow)
    for node in flow.get("nodes", []):
        ref = (node.get("data") or {}).get("credential")
        if isinstance(ref, dict):
            key = f"{ref.get('service_type')}/{ref.get('name')}"
            if key in bindings:
                ref["name"] = bindings[key]
    return flow


class Documents:
    def __init__(self, workflows: Workflows):
        self.workflows = workflows

    async def export(self, caller: Caller, workflow_id: str, include_versions: bool) -> dict:
        row = await self.workflows.get(caller, workflow_id)
        flow = strip_secrets(row.flow_data)
        document = {"format": FORMAT, "name": row.name, "description": row.description, "tags": list(row.tags),
                    "flow_data": flow, "credentials": credential_references(flow), "versions": []}
        if include_versions:
            async with self.workflows.db.transaction() as repo:
                versions = await repo.all_versions(row.id)
            document["versions"] = [{"version": v.version, "flow_data": strip_secrets(v.flow_data),
                                     "message": v.message, "author_id": v.author_id, "created_at": v.created_at}
                                    for v in versions]
        return document

    async def import_(self, caller: Caller, document: dict, name: str, bindings: dict[str, str], request_id: str):
        if document.get("format") != FORMAT:
            raise InvalidArgument("document.format", f"must be {FORMAT!r} (export a workflow to get one)")
        if len(document.get("versions") or []) > MAX_IMPORTED_VERSIONS:
            raise InvalidArgument("document.versions", f"at most {MAX_IMPORTED_VERSIONS} versions can be imported; "
                                                       "export without versions, or with fewer")
        flow = rebind(strip_secrets(document.get("flow_data") or {}), bindings)
        versions = [{"flow_data": rebind(strip_secrets(v["flow_data"]), bindings), "message": v.get("message", "")}
                    for v in sorted(document.get("versions") or [], key=lambda v: v["version"])]
        if versions and versions[-1]["flow_data"] != flow:
            versions.append({"flow_data": flow, "message": "imported"})
        # Every version must be well formed; drafts are fine (they were saved as drafts).
        graphs = [(f"document.versions[{n}].flow_data.", v["flow_data"]) for n, v in enumerate(versions, start=1)]
        for prefix, graph in graphs or [("document.flow_data.", flow)]:
            await self.workflows.check_draft(graph, prefix)
        return await self.workflows.create(
            caller, name=name or document.get("name", ""), description=document.get("description", ""),
            tags=list(document.get("tags") or []), is_public=False, flow=flow, request_id=request_id,
            message="imported", versions=versions or None,
        )
