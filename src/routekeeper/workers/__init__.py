"""Workers and ops groups: the people and teams that planning assigns routes to."""
