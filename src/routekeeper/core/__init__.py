"""Domain-free toolkit: errors, pagination, jobs, time, ids."""
