"""The console: server-rendered pages where an account's operators manage webhooks, devices,
the API secret and exports without writing code."""
