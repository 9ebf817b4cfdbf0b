"""The workflow service over real gRPC: CRUD, versions, validation, roles, tenancy, concurrency."""

import asyncio
import os
import sys

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from agentic.workflow.v1 import workflow_pb2 as pb
from services.workflow.convert import struct_to_dict
from tests.auth.helpers import bearer, expect_code
from tests.workflow.helpers import WorkflowStubs, graph, struct

C = grpc.StatusCode


@pytest.fixture(scope="module")
async def stubs(workflow_service, auth_channel, executor_service):
    channel = grpc.aio.insecure_channel(workflow_service.address)
    yield WorkflowStubs(channel, auth_channel)
    await channel.close()


async def test_create_get_with_version_one_checked_against_the_executor_catalog(stubs, executor_service):
    owner = await stubs.auth.sign_up("wf")
    created = await stubs.create(owner, "My flow", description="d", tags=["Demo", "demo", "rag"])
    assert created.version == 1 and created.etag == '"1"' and list(created.tags) == ["demo", "rag"]
    assert created.owner_id == owner.user.id and created.organization_id == owner.organization_id
    assert list(created.warnings) == []  # the executor answered: every node type was checked
    unknown = graph()
    unknown["nodes"][1]["type"] = "no_such_node"
    draft = await stubs.create(owner, "unknown type", flow=unknown)
    assert any("unknown node type 'no_such_node'" in w for w in draft.warnings), draft.warnings
    got = await stubs.workflows.GetWorkflow(pb.GetWorkflowRequest(id=created.id), metadata=bearer(owner.access_token))
    assert struct_to_dict(got.flow_data) == graph()


async def test_incomplete_draft_is_saved_with_warnings(stubs):
    owner = await stubs.auth.sign_up("wf-draft")
    md = bearer(owner.access_token)
    draft = graph(model="")  # no model yet, and no end node
    draft["nodes"] = draft["nodes"][:2] + [{"id": "note", "type": "merge", "data": {}}]
    draft["edges"] = draft["edges"][:1]
    created = await stubs.create(owner, "half built", flow=draft)
    assert created.version == 1 and struct_to_dict(created.flow_data) == draft
    assert {"flow_data.nodes[chat].data.model: is required for a chat_model node",
            "flow_data.nodes: needs at least one end node",
            "flow_data.nodes[note]: is not connected to any other node"} <= set(created.warnings)

    draft["edges"].append({"id": "loop-back", "source": "chat", "target": "start"})
    updated = await stubs.workflows.UpdateWorkflow(pb.UpdateWorkflowRequest(
        workflow=pb.Workflow(id=created.id, flow_data=struct(draft), etag=created.etag),
        update_mask=field_mask_pb2.FieldMask(paths=["flow_data"])), metadata=md)
    assert updated.version == 2 and any("has no loop node" in w for w in updated.warnings)
    check = await stubs.workflows.ValidateWorkflow(pb.ValidateWorkflowRequest(id=created.id), metadata=md)
    assert not check.valid and "flow_data.nodes[chat].data.model" in {v.field for v in check.violations}

    finished = await stubs.workflows.UpdateWorkflow(pb.UpdateWorkflowRequest(
        workflow=pb.Workflow(id=created.id, flow_data=struct(graph()))), metadata=md)
    assert [w for w in finished.warnings if not w.startswith("node types")] == []
    restored = await stubs.workflows.RestoreWorkflowVersion(pb.RestoreWorkflowVersionRequest(
        workflow_id=created.id, version=1), metadata=md)
    assert restored.version == 4 and "flow_data.nodes: needs at least one end node" in restored.warnings


async def test_malformed_graph_is_still_refused(stubs):
    owner = await stubs.auth.sign_up("wf-bad")
    bad = {"nodes": [{"id": "start", "type": "start", "data": {}}, {"id": "llm", "type": "chat_model", "data": {}},
                     {"id": "llm", "type": "end"}, {"id": "typeless"}, {"id": "d", "type": "merge", "data": "x"}],
           "edges": [{"id": "e1", "source": "start", "target": "nowhere"}, {"id": "e1", "source": "start", "target": "d"}]}
    error = await expect_code(C.INVALID_ARGUMENT, stubs.create(owner, flow=bad))
    violations = error_details_pb2.BadRequest()
    rpc_status.from_call(error).details[0].Unpack(violations)
    # only what makes it malformed: the draft's own gaps (a missing model, no end) wait until it is well formed
    assert {v.field for v in violations.field_violations} == {
        "workflow.flow_data.edges[e1].target", "workflow.flow_data.edges[e1].id", "workflow.flow_data.nodes[llm].id",
        "workflow.flow_data.nodes[typeless].type", "workflow.flow_data.nodes[d].data"}
    for shape in ({"nodes": "start", "edges": []}, {"nodes": [], "edges": [["a", "b"]]}):
        await expect_code(C.INVALID_ARGUMENT, stubs.create(owner, flow=shape))
    await expect_code(C.INVALID_ARGUMENT, stubs.create(owner, name=" "))
    not_json = graph()
    not_json["nodes"][0]["position"]["x"] = float("nan")  # a Struct can carry NaN; JSON cannot
    error = await expect_code(C.INVALID_ARGUMENT, stubs.create(owner, flow=not_json))
    assert "finite" in error.details()
    wf = await stubs.create(owner)
    error = await expect_code(C.INVALID_ARGUMENT, stubs.workflows.UpdateWorkflow(pb.UpdateWorkflowRequest(
        workflow=pb.Workflow(id=wf.id, flow_data=struct(bad))), metadata=bearer(owner.access_token)))
    assert "edges[e1].target" in error.details()


async def test_idempotent_create_with_request_id(stubs):
    owner = await stubs.auth.sign_up("wf-idem")
    request = pb.CreateWorkflowRequest(workflow=pb.Workflow(name="once", flow_data=struct(graph())), request_id="r-1")
    first, second = await asyncio.gather(*(stubs.workflows.CreateWorkflow(request, metadata=bearer(owner.access_token))
                                           for _ in range(2)))
    assert first.id == second.id


async def test_update_creates_versions_and_metadata_changes_do_not(stubs):
    owner = await stubs.auth.sign_up("wf-ver")
    md = bearer(owner.access_token)
    wf = await stubs.create(owner)
    renamed = await stubs.workflows.UpdateWorkflow(pb.UpdateWorkflowRequest(
        workflow=pb.Workflow(id=wf.id, name="renamed", etag=wf.etag),
        update_mask=field_mask_pb2.FieldMask(paths=["name"])), metadata=md)
    assert renamed.name == "renamed" and renamed.version == 1 and renamed.etag != wf.etag
    changed = await stubs.workflows.UpdateWorkflow(pb.UpdateWorkflowRequest(
        workflow=pb.Workflow(id=wf.id, flow_data=struct(graph(model="bigger")), etag=renamed.etag),
        update_mask=field_mask_pb2.FieldMask(paths=["flow_data"]), version_message="bigger model"), metadata=md)
    assert changed.version == 2
    versions = await stubs.workflows.ListWorkflowVersions(pb.ListWorkflowVersionsRequest(workflow_id=wf.id), metadata=md)
    assert [(v.version, v.message) for v in versions.versions] == [(2, "bigger model"), (1, "")]
    v1 = await stubs.workflows.GetWorkflowVersion(pb.GetWorkflowVersionRequest(workflow_id=wf.id, version=1), metadata=md)
    assert struct_to_dict(v1.flow_data) == graph()
    restored = await stubs.workflows.RestoreWorkflowVersion(
        pb.RestoreWorkflowVersionRequest(workflow_id=wf.id, version=1), metadata=md)
    assert restored.version == 3 and struct_to_dict(restored.flow_data) == graph()
    await expect_code(C.NOT_FOUND, stubs.workflows.GetWorkflowVersion(
        pb.GetWorkflowVersionRequest(workflow_id=wf.id, version=9), metadata=md))
    await expect_code(C.INVALID_ARGUMENT, stubs.workflows.UpdateWorkflow(pb.UpdateWorkflowRequest(
        workflow=pb.Workflow(id=wf.id, owner_id="me"), update_mask=field_mask_pb2.FieldMask(paths=["owner_id"])),
        metadata=md))


async def test_stale_etag_is_aborted_and_concurrent_updates_have_one_winner(stubs):
    owner = await stubs.auth.sign_up("wf-race")
    md = bearer(owner.access_token)
    wf = await stubs.create(owner)
    requests = [pb.UpdateWorkflowRequest(workflow=pb.Workflow(id=wf.id, flow_data=struct(graph(model=f"m{i}")),
                                                              etag=wf.etag),
                                         update_mask=field_mask_pb2.FieldMask(paths=["flow_data"]))
                for i in range(6)]
    results = await asyncio.gather(*(stubs.workflows.UpdateWorkflow(r, metadata=md) for r in requests),
                                   return_exceptions=True)
    winners = [r for r in results if isinstance(r, pb.Workflow)]
    assert len(winners) == 1 and winners[0].version == 2
    assert all(r.code() == C.ABORTED for r in results if not isinstance(r, pb.Workflow))
    versions = await stubs.workflows.ListWorkflowVersions(pb.ListWorkflowVersionsRequest(workflow_id=wf.id), metadata=md)
    assert len(versions.versions) == 2


async def test_soft_delete_and_undelete(stubs):
    owner = await stubs.auth.sign_up("wf-del")
    md = bearer(owner.access_token)
    wf = await stubs.create(owner)
    await stubs.workflows.DeleteWorkflow(pb.DeleteWorkflowRequest(id=wf.id), metadata=md)
    await expect_code(C.NOT_FOUND, stubs.workflows.GetWorkflow(pb.GetWorkflowRequest(id=wf.id), metadata=md))
    deleted = await stubs.workflows.ListWorkflows(pb.ListWorkflowsRequest(show_deleted=True), metadata=md)
    assert [w.id for w in deleted.workflows] == [wf.id] and deleted.workflows[0].HasField("delete_time")
    back = await stubs.workflows.UndeleteWorkflow(pb.UndeleteWorkflowRequest(id=wf.id), metadata=md)
    assert not back.HasField("delete_time")
    assert (await stubs.workflows.GetWorkflow(pb.GetWorkflowRequest(id=wf.id), metadata=md)).id == wf.id


async def test_list_filters_by_tag_and_name(stubs):
    owner = await stubs.auth.sign_up("wf-list")
    md = bearer(owner.access_token)
    await stubs.create(owner, "Support bot", tags=["support"])
    await stubs.create(owner, "Sales bot", tags=["sales"])
    await stubs.create(owner, "100%_literal", tags=[])
    by_tag = await stubs.workflows.ListWorkflows(pb.ListWorkflowsRequest(tag="support"), metadata=md)
    assert [w.name for w in by_tag.workflows] == ["Support bot"]
    by_name = await stubs.workflows.ListWorkflows(pb.ListWorkflowsRequest(query="BOT"), metadata=md)
    assert [w.name for w in by_name.workflows] == ["Sales bot", "Support bot"]  # most recently updated first
    literal = await stubs.workflows.ListWorkflows(pb.ListWorkflowsRequest(query="%_"), metadata=md)
    assert [w.name for w in literal.workflows] == ["100%_literal"]
    assert not by_tag.workflows[0].HasField("flow_data")


async def test_pagination_through_250_workflows_returns_each_exactly_once(stubs):
    owner = await stubs.auth.sign_up("wf-pages")
    md = bearer(owner.access_token)
    created = set()
    for batch in range(0, 250, 25):
        made = await asyncio.gather(*(stubs.create(owner, f"wf-{i}") for i in range(batch, batch + 25)))
        created |= {w.id for w in made}
    seen, token, pages = [], "", 0
    while True:
        page = await stubs.workflows.ListWorkflows(pb.ListWorkflowsRequest(page_size=40, page_token=token), metadata=md)
        seen += [w.id for w in page.workflows]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == 250 and set(seen) == created and pages == 7
    await expect_code(C.INVALID_ARGUMENT, stubs.workflows.ListWorkflows(
        pb.ListWorkflowsRequest(page_token="bm90IGEgdG9rZW4="), metadata=md))


async def test_roles_viewer_reads_member_edits_own_admin_edits_all(stubs):
    owner = await stubs.auth.sign_up("wf-roles")
    viewer = await stubs.member_of(owner, "viewer", "wf-viewer")
    member = await stubs.member_of(owner, "member", "wf-member")
    admin = await stubs.member_of(owner, "admin", "wf-admin")
    owners_wf = await stubs.create(owner, "owner's")
    assert (await stubs.workflows.GetWorkflow(pb.GetWorkflowRequest(id=owners_wf.id),
                                              metadata=bearer(viewer.access_token))).id == owners_wf.id
    await expect_code(C.PERMISSION_DENIED, stubs.create(viewer, "nope"))
    members_wf = await stubs.create(member, "member's")

    def rename(wf, name):
        return pb.UpdateWorkflowRequest(workflow=pb.Workflow(id=wf.id, name=name),
                                        update_mask=field_mask_pb2.FieldMask(paths=["name"]))

    await expect_code(C.PERMISSION_DENIED, stubs.workflows.UpdateWorkflow(
        rename(owners_wf, "x"), metadata=bearer(member.access_token)))
    assert (await stubs.workflows.UpdateWorkflow(rename(members_wf, "mine"), metadata=bearer(member.access_token))).name == "mine"
    assert (await stubs.workflows.UpdateWorkflow(rename(members_wf, "admin"), metadata=bearer(admin.access_token))).name == "admin"
    await expect_code(C.PERMISSION_DENIED, stubs.workflows.DeleteWorkflow(
        pb.DeleteWorkflowRequest(id=owners_wf.id), metadata=bearer(viewer.access_token)))


async def test_public_workflows_are_readable_not_writable_across_organizations(stubs):
    a, b = await stubs.auth.sign_up("wf-pub-a"), await stubs.auth.sign_up("wf-pub-b")
    public = await stubs.create(a, "shared", is_public=True)
    private = await stubs.create(a, "secret")
    md_b = bearer(b.access_token)
    assert (await stubs.workflows.GetWorkflow(pb.GetWorkflowRequest(id=public.id), metadata=md_b)).name == "shared"
    await expect_code(C.PERMISSION_DENIED, stubs.workflows.UpdateWorkflow(pb.UpdateWorkflowRequest(
        workflow=pb.Workflow(id=public.id, name="mine"), update_mask=field_mask_pb2.FieldMask(paths=["name"])),
        metadata=md_b))
    await expect_code(C.NOT_FOUND, stubs.workflows.GetWorkflow(pb.GetWorkflowRequest(id=private.id), metadata=md_b))
    listed = await stubs.workflows.ListWorkflows(pb.ListWorkflowsRequest(), metadata=md_b)
    assert public.id not in {w.id for w in listed.workflows}


async def test_inline_secrets_of_public_workflows_stay_in_their_organization(stubs):
    a, b = await stubs.auth.sign_up("wf-sec-a"), await stubs.auth.sign_up("wf-sec-b")
    flow = graph()
    flow["nodes"][1]["data"]["api_key"] = "sk-pasted-inline"
    public = await stubs.create(a, "shared with a secret", is_public=True, flow=flow)
    own = await stubs.workflows.GetWorkflow(pb.GetWorkflowRequest(id=public.id), metadata=bearer(a.access_token))
    assert struct_to_dict(own.flow_data) == flow  # the owning organization sees what it saved
    md_b = bearer(b.access_token)
    seen = await stubs.workflows.GetWorkflow(pb.GetWorkflowRequest(id=public.id), metadata=md_b)
    version = await stubs.workflows.GetWorkflowVersion(
        pb.GetWorkflowVersionRequest(workflow_id=public.id, version=1), metadata=md_b)
    copied = await stubs.templates.CreateTemplate(pb.CreateTemplateRequest(workflow_id=public.id, name="copy"),
                                                  metadata=md_b)
    for message in (seen, version, copied):
        assert "sk-pasted-inline" not in str(message)
        assert struct_to_dict(message.flow_data)["nodes"][1]["data"]["credential"] == flow["nodes"][1]["data"]["credential"]


async def test_validate_saved_and_unsaved_graphs(stubs):
    owner = await stubs.auth.sign_up("wf-validate")
    md = bearer(owner.access_token)
    wf = await stubs.create(owner)
    ok = await stubs.workflows.ValidateWorkflow(pb.ValidateWorkflowRequest(id=wf.id), metadata=md)
    assert ok.valid and not ok.violations and not ok.warnings
    broken = await stubs.workflows.ValidateWorkflow(pb.ValidateWorkflowRequest(
        flow_data=struct({"nodes": [{"id": "a", "type": "start"}], "edges": []})), metadata=md)
    assert not broken.valid and [v.field for v in broken.violations] == ["flow_data.nodes"]


async def test_templates_list_instantiate_save_and_delete(stubs):
    owner = await stubs.auth.sign_up("wf-tpl")
    md = bearer(owner.access_token)
    listed = await stubs.templates.ListTemplates(pb.ListTemplatesRequest(), metadata=md)
    builtin_ids = {t.id for t in listed.templates if t.builtin}
    assert {"builtin:simple-chat", "builtin:chat-with-memory", "builtin:rag-qa", "builtin:tool-agent",
            "builtin:summarize-document", "builtin:branching-router"} <= builtin_ids
    for template_id in builtin_ids:  # every built-in instantiates into a valid workflow
        wf = await stubs.templates.CreateWorkflowFromTemplate(
            pb.CreateWorkflowFromTemplateRequest(template_id=template_id), metadata=md)
        check = await stubs.workflows.ValidateWorkflow(pb.ValidateWorkflowRequest(id=wf.id), metadata=md)
        assert check.valid, (template_id, check.violations)
    source = await stubs.create(owner, "to save")
    saved = await stubs.templates.CreateTemplate(pb.CreateTemplateRequest(
        workflow_id=source.id, name="Team flow", category="team"), metadata=md)
    assert not saved.builtin
    team = await stubs.templates.ListTemplates(pb.ListTemplatesRequest(category="team"), metadata=md)
    assert [t.id for t in team.templates] == [saved.id]
    await expect_code(C.FAILED_PRECONDITION, stubs.templates.DeleteTemplate(
        pb.DeleteTemplateRequest(id="builtin:simple-chat"), metadata=md))
    await stubs.templates.DeleteTemplate(pb.DeleteTemplateRequest(id=saved.id), metadata=md)
    await expect_code(C.NOT_FOUND, stubs.templates.GetTemplate(pb.GetTemplateRequest(id=saved.id), metadata=md))


async def test_export_import_round_trip_is_lossless_and_rebinds_credentials(stubs):
    a, b = await stubs.auth.sign_up("wf-exp-a"), await stubs.auth.sign_up("wf-exp-b")
    md_a, md_b = bearer(a.access_token), bearer(b.access_token)
    flow = graph()
    flow["nodes"][1]["data"]["api_key"] = "sk-inline-secret-never-exported"
    wf = await stubs.create(a, "exported", description="desc", tags=["t1"], flow=flow)
    await stubs.workflows.UpdateWorkflow(pb.UpdateWorkflowRequest(
        workflow=pb.Workflow(id=wf.id, flow_data=struct(graph(model="v2"))),
        update_mask=field_mask_pb2.FieldMask(paths=["flow_data"]), version_message="second"), metadata=md_a)
    document = await stubs.workflows.ExportWorkflow(pb.ExportWorkflowRequest(id=wf.id, include_versions=True),
                                                    metadata=md_a)
    assert document.format == "agentic.workflow/v1" and len(document.versions) == 2
    assert "sk-inline-secret" not in str(document)
    assert [(c.node_id, c.service_type, c.name) for c in document.credentials] == [("chat", "openai", "default")]
    imported = await stubs.workflows.ImportWorkflow(pb.ImportWorkflowRequest(document=document), metadata=md_b)
    assert imported.organization_id == b.organization_id and imported.version == 2
    again = await stubs.workflows.ExportWorkflow(pb.ExportWorkflowRequest(id=imported.id, include_versions=True),
                                                 metadata=md_b)
    for field in ("format", "name", "description", "tags", "flow_data", "credentials"):
        assert getattr(again, field) == getattr(document, field), field
    assert [(v.version, v.message, v.flow_data) for v in again.versions] == \
        [(v.version, v.message, v.flow_data) for v in document.versions]
    rebound = await stubs.workflows.ImportWorkflow(pb.ImportWorkflowRequest(
        document=document, name="rebound", credential_bindings={"openai/default": "team-key"}), metadata=md_b)
    assert struct_to_dict(rebound.flow_data)["nodes"][1]["data"]["credential"]["name"] == "team-key"
    await expect_code(C.INVALID_ARGUMENT, stubs.workflows.ImportWorkflow(
        pb.ImportWorkflowRequest(document=pb.WorkflowDocument(format="other")), metadata=md_b))
    too_long = pb.WorkflowDocument(format=document.format, name="long history", flow_data=document.flow_data,
                                   versions=[pb.WorkflowVersion(version=n, flow_data=document.flow_data)
                                             for n in range(1, 502)])
    await expect_code(C.INVALID_ARGUMENT, stubs.workflows.ImportWorkflow(
        pb.ImportWorkflowRequest(document=too_long), metadata=md_b))


async def test_tenant_isolation_every_id_taking_rpc_is_not_found(stubs):
    a, b = await stubs.auth.sign_up("wf-iso-a"), await stubs.auth.sign_up("wf-iso-b")
    wf = await stubs.create(b, "b's")
    template = await stubs.templates.CreateTemplate(pb.CreateTemplateRequest(workflow_id=wf.id, name="b"),
                                                    metadata=bearer(b.access_token))
    md = bearer(a.access_token)
    mask = field_mask_pb2.FieldMask(paths=["name"])
    for call in (
        stubs.workflows.GetWorkflow(pb.GetWorkflowRequest(id=wf.id), metadata=md),
        stubs.workflows.UpdateWorkflow(pb.UpdateWorkflowRequest(workflow=pb.Workflow(id=wf.id, name="x"),
                                                                update_mask=mask), metadata=md),
        stubs.workflows.DeleteWorkflow(pb.DeleteWorkflowRequest(id=wf.id), metadata=md),
        stubs.workflows.UndeleteWorkflow(pb.UndeleteWorkflowRequest(id=wf.id), metadata=md),
        stubs.workflows.ListWorkflowVersions(pb.ListWorkflowVersionsRequest(workflow_id=wf.id), metadata=md),
        stubs.workflows.GetWorkflowVersion(pb.GetWorkflowVersionRequest(workflow_id=wf.id, version=1), metadata=md),
        stubs.workflows.RestoreWorkflowVersion(pb.RestoreWorkflowVersionRequest(workflow_id=wf.id, version=1),
                                               metadata=md),
        stubs.workflows.ValidateWorkflow(pb.ValidateWorkflowRequest(id=wf.id), metadata=md),
        stubs.workflows.ExportWorkflow(pb.ExportWorkflowRequest(id=wf.id), metadata=md),
        stubs.templates.GetTemplate(pb.GetTemplateRequest(id=template.id), metadata=md),
        stubs.templates.DeleteTemplate(pb.DeleteTemplateRequest(id=template.id), metadata=md),
        stubs.templates.CreateTemplate(pb.CreateTemplateRequest(workflow_id=wf.id), metadata=md),
        stubs.templates.CreateWorkflowFromTemplate(pb.CreateWorkflowFromTemplateRequest(template_id=template.id),
                                                   metadata=md),
    ):
        await expect_code(C.NOT_FOUND, call)


async def test_unauthenticated_calls_are_refused(stubs):
    await expect_code(C.UNAUTHENTICATED, stubs.workflows.ListWorkflows(pb.ListWorkflowsRequest()))
    await expect_code(C.UNAUTHENTICATED, stubs.workflows.ListWorkflows(pb.ListWorkflowsRequest(),
                                                                      metadata=bearer("forged.token.here")))


async def test_purge_removes_only_workflows_past_the_undelete_window(stubs, migrated_database):
    from sqlalchemy import text

    from services.common.db import make_engine

    owner = await stubs.auth.sign_up("wf-purge")
    md = bearer(owner.access_token)
    old, recent = await stubs.create(owner, "old"), await stubs.create(owner, "recent")
    for wf in (old, recent):
        await stubs.workflows.DeleteWorkflow(pb.DeleteWorkflowRequest(id=wf.id), metadata=md)
    engine = make_engine(migrated_database)
    async with engine.begin() as conn:  # age one deletion past the 30-day window
        await conn.execute(text("UPDATE workflow.workflows SET deleted_at = now() - interval '31 days' WHERE id = :id"),
                           {"id": old.id})
    await engine.dispose()
    env = {**os.environ, "WORKFLOW_DATABASE_URL": migrated_database}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "services.workflow", "purge-deleted",
                                                env=env, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0 and out.decode().startswith("purged ")
    await expect_code(C.NOT_FOUND, stubs.workflows.UndeleteWorkflow(pb.UndeleteWorkflowRequest(id=old.id), metadata=md))
    assert (await stubs.workflows.UndeleteWorkflow(pb.UndeleteWorkflowRequest(id=recent.id), metadata=md)).id == recent.id


async def test_versions_page_newest_first_and_diff(stubs):
    owner = await stubs.auth.sign_up("wf-vpages")
    md = bearer(owner.access_token)
    wf = await stubs.create(owner)
    etag = wf.etag
    for i in range(2, 8):
        updated = await stubs.workflows.UpdateWorkflow(pb.UpdateWorkflowRequest(
            workflow=pb.Workflow(id=wf.id, flow_data=struct(graph(model=f"m{i}")), etag=etag),
            update_mask=field_mask_pb2.FieldMask(paths=["flow_data"]), version_message=f"v{i}"), metadata=md)
        etag = updated.etag
    seen, token = [], ""
    while True:
        page = await stubs.workflows.ListWorkflowVersions(pb.ListWorkflowVersionsRequest(
            workflow_id=wf.id, page_size=3, page_token=token), metadata=md)
        seen += [v.version for v in page.versions]
        token = page.next_page_token
        if not token:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    changes = await stubs.workflows.DiffWorkflowVersions(pb.DiffWorkflowVersionsRequest(
        workflow_id=wf.id, version=7, other_version=1), metadata=md)
    assert list(changes.nodes_changed) == ["chat"] and not changes.nodes_added and not changes.edges_changed
    await expect_code(C.NOT_FOUND, stubs.workflows.DiffWorkflowVersions(pb.DiffWorkflowVersionsRequest(
        workflow_id=wf.id, version=8), metadata=md))


async def test_undelete_after_the_window_is_a_failed_precondition(stubs, migrated_database):
    from sqlalchemy import text

    from services.common.db import make_engine

    owner = await stubs.auth.sign_up("wf-late")
    md = bearer(owner.access_token)
    wf = await stubs.create(owner)
    await stubs.workflows.DeleteWorkflow(pb.DeleteWorkflowRequest(id=wf.id, etag=wf.etag), metadata=md)
    engine = make_engine(migrated_database)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE workflow.workflows SET deleted_at = now() - interval '31 days' WHERE id = :id"),
                           {"id": wf.id})
    await engine.dispose()
    await expect_code(C.FAILED_PRECONDITION, stubs.workflows.UndeleteWorkflow(
        pb.UndeleteWorkflowRequest(id=wf.id), metadata=md))


async def test_members_delete_only_their_own_templates(stubs):
    owner = await stubs.auth.sign_up("wf-tpl-own")
    member = await stubs.member_of(owner, "member", "wf-tpl-member")
    wf = await stubs.create(owner)
    saved = await stubs.templates.CreateTemplate(pb.CreateTemplateRequest(workflow_id=wf.id, name="owner's"),
                                                 metadata=bearer(owner.access_token))
    await expect_code(C.PERMISSION_DENIED, stubs.templates.DeleteTemplate(
        pb.DeleteTemplateRequest(id=saved.id), metadata=bearer(member.access_token)))
    made = await stubs.templates.CreateWorkflowFromTemplate(pb.CreateWorkflowFromTemplateRequest(
        template_id=saved.id, name="from team template"), metadata=bearer(member.access_token))
    assert made.owner_id == member.user.id and made.version == 1


async def test_a_graph_with_many_problems_is_still_a_small_invalid_argument(stubs):
    owner = await stubs.auth.sign_up("wf-many")
    md = bearer(owner.access_token)
    nodes = [{"id": "start", "type": "start"}, {"id": "end", "type": "end"},
             *[{"id": f"chat-model-node-{i}", "type": "chat_model", "data": {}} for i in range(45)]]
    edges = [{"id": f"edge-{i}", "source": "start", "target": f"missing-{'x' * 90}-{i}"} for i in range(90)]
    flow = {"nodes": nodes, "edges": edges}
    error = await expect_code(C.INVALID_ARGUMENT, stubs.create(owner, flow=flow))
    violations = error_details_pb2.BadRequest()
    rpc_status.from_call(error).details[0].Unpack(violations)
    assert len(violations.field_violations) <= 21
    assert "more problems" in violations.field_violations[-1].description
    everything = await stubs.workflows.ValidateWorkflow(pb.ValidateWorkflowRequest(flow_data=struct(flow)), metadata=md)
    assert len(everything.violations) >= 45 + 90


async def test_flow_data_nested_past_protobufs_limit_is_invalid_argument(stubs, workflow_service):
    owner = await stubs.auth.sign_up("wf-deep-raw")
    deep: dict = {}
    level = deep
    for _ in range(46):  # 46 JSON levels = over 100 protobuf levels: the server cannot parse it
        level["a"] = {}
        level = level["a"]
    flow = graph()
    flow["nodes"][0]["data"] = deep
    request = pb.CreateWorkflowRequest(workflow=pb.Workflow(name="deep"))
    request.workflow.flow_data.update(flow)
    channel = grpc.aio.insecure_channel(workflow_service.address)
    raw = channel.unary_unary("/agentic.workflow.v1.WorkflowService/CreateWorkflow",
                              request_serializer=pb.CreateWorkflowRequest.SerializeToString,
                              response_deserializer=pb.Workflow.FromString)
    try:
        await expect_code(C.INVALID_ARGUMENT, raw(request, metadata=bearer(owner.access_token)))
    finally:
        await channel.close()


async def test_known_version_leaves_out_a_current_graph_only(stubs):
    owner, other = await stubs.auth.sign_up("wf-known"), await stubs.auth.sign_up("wf-known-other")
    md = bearer(owner.access_token)
    wf = await stubs.create(owner, "cached")
    same = await stubs.workflows.GetWorkflow(pb.GetWorkflowRequest(id=wf.id, known_version=1), metadata=md)
    assert same.version == 1 and same.name == "cached" and not same.HasField("flow_data")
    changed = graph()
    changed["nodes"][1]["data"]["system_prompt"] = "be brief"
    await stubs.workflows.UpdateWorkflow(pb.UpdateWorkflowRequest(
        workflow=pb.Workflow(id=wf.id, flow_data=struct(changed)),
        update_mask=field_mask_pb2.FieldMask(paths=["flow_data"])), metadata=md)
    newer = await stubs.workflows.GetWorkflow(pb.GetWorkflowRequest(id=wf.id, known_version=1), metadata=md)
    assert newer.version == 2 and struct_to_dict(newer.flow_data) == changed
    # Tenancy and deletion are checked as for any read.
    await expect_code(C.NOT_FOUND, stubs.workflows.GetWorkflow(
        pb.GetWorkflowRequest(id=wf.id, known_version=2), metadata=bearer(other.access_token)))
    await stubs.workflows.DeleteWorkflow(pb.DeleteWorkflowRequest(id=wf.id), metadata=md)
    await expect_code(C.NOT_FOUND, stubs.workflows.GetWorkflow(
        pb.GetWorkflowRequest(id=wf.id, known_version=2), metadata=md))
