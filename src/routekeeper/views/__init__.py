"""Browser views: the route embed for ops, the share page for customers, the plans board.

``endpoints.install(app)`` serves them; ``tokens`` signs the embed links the API hands out.
"""
