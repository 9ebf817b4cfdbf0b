"""Rows and domain results <-> workflow protos. The only place that builds workflow messages."""

from collections import OrderedDict

from google.protobuf.struct_pb2 import Struct

from agentic.workflow.v1 import workflow_pb2 as pb
from services.common.errors import InvalidArgument
from services.common.protojson import struct_dict, timestamp


def struct_to_dict(struct: Struct, field: str = "flow_data") -> dict:
    try:
        return struct_dict(struct)
    except ValueError:  # NaN or Infinity: a gRPC client can send them, JSON (and JSONB) cannot hold them
        raise InvalidArgument(field, "numbers must be finite (no NaN or Infinity)") from None


def dict_to_struct(value: dict) -> Struct:
    struct = Struct()
    struct.update(value)
    return struct


class GraphStructs:
    """Recently built flow_data Structs by (workflow id, revision or version, redacted): building one from the
    row's dict is most of the work of a GetWorkflow, copying a built one is ~15x cheaper. A revision's graph
    never changes (every write makes a new revision; a version is immutable). Bounded in count, and large
    graphs are not kept."""

    def __init__(self, size: int = 256, max_bytes: int = 64 * 1024):
        self.size, self.max_bytes = size, max_bytes
        self._items: OrderedDict[tuple, Struct] = OrderedDict()

    def fill(self, target: Struct, key: tuple, flow: dict) -> None:
        cached = self._items.get(key)
        if cached is not None:
            self._items.move_to_end(key)
            target.CopyFrom(cached)
            return
        target.update(flow)
        if target.ByteSize() <= self.max_bytes:
            built = Struct()
            built.CopyFrom(target)
            self._items[key] = built
            if len(self._items) > self.size:
                self._items.popitem(last=False)


GRAPHS = GraphStructs()


def etag(revision: int) -> str:
    return f'"{revision}"'


def workflow(row, warnings=(), with_flow: bool = True) -> pb.Workflow:
    message = pb.Workflow(
        id=str(row.id), organization_id=str(row.org_id), owner_id=row.owner_id, name=row.name,
        description=row.description, tags=list(row.tags), is_public=row.is_public, version=row.version,
        etag=etag(row.revision), create_time=timestamp(row.created_at), update_time=timestamp(row.updated_at),
        delete_time=timestamp(row.deleted_at), warnings=list(warnings),
    )
    if with_flow:
        GRAPHS.fill(message.flow_data, ("revision", row.id, row.revision, getattr(row, "redacted", False)),
                    row.flow_data)
    return message


def version(row) -> pb.WorkflowVersion:
    message = pb.WorkflowVersion(workflow_id=str(row.workflow_id), version=row.version, author_id=row.author_id,
                                 message=row.message, create_time=timestamp(row.created_at))
    flow = getattr(row, "flow_data", None)  # list rows leave the graph out
    if flow is not None:
        GRAPHS.fill(message.flow_data, ("version", row.workflow_id, row.version, getattr(row, "redacted", False)),
                    flow)
    return message


def violations(problems) -> list[pb.Violation]:
    return [pb.Violation(field=p.field, description=p.description) for p in problems]


def document(doc: dict) -> pb.WorkflowDocument:
    message = pb.WorkflowDocument(
        format=doc["format"], name=doc["name"], description=doc["description"], tags=doc["tags"],
        credentials=[pb.CredentialReference(**ref) for ref in doc["credentials"]],
        versions=[pb.WorkflowVersion(version=v["version"], flow_data=dict_to_struct(v["flow_data"]), message=v["message"],
                                     author_id=v["author_id"], create_time=timestamp(v["created_at"]))
                  for v in doc["versions"]],
    )
    message.flow_data.update(doc["flow_data"])
    message.export_time.GetCurrentTime()
    return message


def document_from_proto(message: pb.WorkflowDocument) -> dict:
    return {
        "format": message.format, "name": message.name, "description": message.description,
        "tags": list(message.tags), "flow_data": struct_to_dict(message.flow_data, "document.flow_data"),
        "versions": [{"version": v.version, "flow_data": struct_to_dict(v.flow_data, f"document.versions[{i}].flow_data"),
                      "message": v.message}
                     for i, v in enumerate(message.versions)],
    }


def template(item) -> pb.Template:
    builtin = not hasattr(item, "org_id")
    message = pb.Template(id=str(item.id), name=item.name, description=item.description, category=item.category,
                          builtin=builtin, create_time=None if builtin else timestamp(item.created_at))
    message.flow_data.update(item.flow_data)
    return message
