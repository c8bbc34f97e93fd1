"""Getting back from a bad day, and knowing a deploy went right.

- ``backup.Backup``: AWS Backup of the environment's database: own-key vaults
  with a lock, a plan copied to a second region, restore tests on a schedule;
- ``smoke_test.SmokeTest``: the post-deploy smoke test the deploy workflows
  run, from inside the cluster, with the application's credentials.
"""
