"""Live tracking: a pure engine (``tracking.engine``) and the glue that feeds it.

``engine/`` turns fixes into visits, ETAs, risks, actuals and webhook-ready events without a
database, the web or a wall clock.  Beside it sit the modules that load and store its state,
parse the device protocols, serve the endpoints and close orders and routes; other domains
reach them through ``tracking.service``.
"""
