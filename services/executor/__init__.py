"""The executor: node catalog, graph engine (LangGraph), runs, their events and checkpoints, threads."""
