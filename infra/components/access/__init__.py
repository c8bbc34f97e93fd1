"""Who may reach what: people's roles, their database users, and the ways in.

- ``session_manager.SessionManager``: the bastion people reach through
  Systems Manager Session Manager (no SSH anywhere), its session documents and
  encrypted session logs; ``session_manager.session_statements`` is the IAM
  policy a person's role needs to use it.
"""
