"""Orders: creation, listing, lifecycle transitions and timelines."""
