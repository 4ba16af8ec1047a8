"""The responder console: run an incident from the browser, signed in with Microsoft (or an API token).

Server-rendered pages over the same domain functions the API calls; who may do what follows the
incident rules the Teams bot uses (`incidents/permissions.py`), plus admins for people, rotations
and tokens. The console sits at the top of the web layer.
"""
