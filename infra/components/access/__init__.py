"""Who may reach what: people's roles, their database users, and the ways in.

- ``audiences.Access``: an IAM role per audience (developers, QA, on-call),
  mapped to cluster access and to `rds-db:connect` as its database role;
- ``application.ApplicationIdentity``: the application's ServiceAccount and
  the IRSA role it logs in to the database with;
- ``session_manager.SessionManager``: the bastion people reach through
  Systems Manager Session Manager (no SSH anywhere), its session documents and
  encrypted session logs; ``session_manager.session_statements`` is the IAM
  policy a person's role needs to use it;
- ``policies``: the access layer's IAM documents (pure).
"""
