"""The worker's rule engine: which rules an event meets (``match``), which segments a contact
is in (``segments``) and which workflows it triggers (``triggers``). Pure functions; the rules
themselves (their model, the catalog every process follows) are in ``eventline.schemas.rules``.
"""
