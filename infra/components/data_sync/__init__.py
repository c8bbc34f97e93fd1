"""The weekly anonymised copy of production (README "Production data in staging").

- ``exporter.DataExport`` (production): the dumps' bucket and key, the mask
  key, the export job's IRSA role and its CronJob;
- ``importer.DataImport`` (staging): the import job's IRSA role, read-only on
  production's bucket, and its CronJob;
- ``jobs``: what both jobs' pods share (namespace, ConfigMap, containers).

The SQL and scripts they run are in infra/data_sync.
"""
