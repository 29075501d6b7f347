"""Order tasks and task definitions (contract 2.4 and 3.8)."""
