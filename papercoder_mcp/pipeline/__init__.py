"""Running a paper through the stage DAG: ingest, scheduling, budget, the orchestrator, status, repair, export."""
