// Shapes of the API resources the console reads (protojson with proto field names).
export interface FlowNode {
  id: string;
  type: string;
  position: { x: number; y: number };
  data: Record<string, unknown>;
}

export interface FlowEdge {
  id: string;
  source: string;
  target: string;
  sourceHandle?: string | null;
  targetHandle?: string | null;
}

export interface FlowData {
  nodes: FlowNode[];
  edges: FlowEdge[];
}

export interface Workflow {
  id: string;
  name: string;
  description: string;
  tags: string[];
  flow_data?: FlowData;
  version: number;
  etag: string;
  update_time: string;
  delete_time?: string;
  warnings?: string[];
}

export interface Template {
  id: string;
  name: string;
  description: string;
  category: string;
  builtin: boolean;
}

export interface JsonSchema {
  type?: string;
  description?: string;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minimum?: number;
  maximum?: number;
  format?: string;
}

export interface NodeType {
  type: string;
  category: string;
  display_name: string;
  description: string;
  params_schema: JsonSchema;
  inputs: string[];
  outputs: string[];
  credential_type: string;
}

export interface ExecutionEvent {
  execution_id: string;
  seq: number;
  type: string;
  node_id: string;
  payload: Record<string, unknown>;
  timestamp: string;
}

export interface Execution {
  id: string;
  workflow_id: string;
  workflow_version: number;
  status: string;
  input: unknown;
  output?: unknown;
  error?: { code: string; message: string; node_id: string };
  interrupt?: Record<string, unknown>;
  last_seq: number;
  create_time: string;
  end_time?: string;
}

export const TERMINAL_EVENTS = new Set(["run_completed", "run_failed", "run_cancelled"]);
