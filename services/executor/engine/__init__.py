"""The graph engine: compile (flow_data -> LangGraph), run (one execution), events (seq, batching, fan-out),
queue (claims, leases, recovery), checkpoints (langgraph-checkpoint-postgres in the executor schema)."""
