"""Pure tracking steps: fixes in, visits, ETAs, risks, actuals and webhook-ready events out.

No database, no web, no I/O and no wall clock: every function takes the current time as an
argument.  The modules form a pipeline in this order (see ``docs/tracking.md``):

``fixes`` (validate) -> ``geofence`` (presence) -> ``arrival`` (visit state machine) ->
``actuals`` (distance, coverage) -> ``eta`` (remaining stops) -> ``risks`` -> ``pipeline``.
"""
