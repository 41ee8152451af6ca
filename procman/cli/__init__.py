"""The client half: the `procman` command (app.py), the blocking socket client (client.py),
everything it prints (render.py) and the live dashboard (monit.py).

Empty on purpose: importing `procman.cli` imports nothing else, so each command pays only for
what it uses.
"""
