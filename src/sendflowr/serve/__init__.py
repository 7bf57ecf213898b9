"""Serve: running SendFlowr's roles, in one process or one role a process.

- ``contract``: what a role gives ``serve`` (``RoleHandle``) and what roles of one
  process share (``Resources``); the roles import it, so it imports no role.
- ``compose``: the composition root; it imports every role's builder.
- ``admin``: the loopback admin API (read-only SQL into the store serve owns).
- ``daemon``: ``serve`` as a background process (``up``, ``status``, ``down``).

This module imports nothing, so a role importing ``serve.contract`` loads no other part.
"""
