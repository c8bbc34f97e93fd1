"""Alertmanager's routing tree and receivers, from the stack's alerting config.

Pure data (tested without Pulumi). Webhook URLs, routing keys and the SMTP
password never appear here: each receiver names the file Alertmanager reads
it from, a key of the `alertmanager-receivers` Secret mounted at
/etc/alertmanager/secrets/alertmanager-receivers/ (kube-prometheus-stack's
`alertmanagerSpec.secrets`). So the routing stays reviewable in the Helm
values while the values (and the Helm release's own Secret) hold no secret.
https://prometheus.io/docs/alerting/latest/configuration/
"""

from __future__ import annotations

from typing import Any

from infra.config import AlertingSpec, revealed

RECEIVERS_SECRET = "alertmanager-receivers"
SECRETS_DIR = f"/etc/alertmanager/secrets/{RECEIVERS_SECRET}"
# Keys of the receivers Secret, one per secret value.
SLACK_WEBHOOK_KEY = "slack-webhook-url"
PAGERDUTY_ROUTING_KEY = "pagerduty-routing-key"
SMTP_PASSWORD_KEY = "smtp-password"

# kube-prometheus-stack's recommended inhibitions (its values.yaml at the
# pinned version): a critical alert silences the warning and info alerts of
# the same name in the same namespace; InfoInhibitor mutes info alerts.
INHIBIT_RULES: list[dict[str, Any]] = [
    {
        "source_matchers": ["severity = critical"],
        "target_matchers": ["severity =~ warning|info"],
        "equal": ["namespace", "alertname"],
    },
    {
        "source_matchers": ["severity = warning"],
        "target_matchers": ["severity = info"],
        "equal": ["namespace", "alertname"],
    },
    {
        "source_matchers": ["alertname = InfoInhibitor"],
        "target_matchers": ["severity = info"],
        "equal": ["namespace"],
    },
    {"target_matchers": ["alertname = InfoInhibitor"]},
]


def receiver_secret_data(spec: AlertingSpec) -> dict[str, str]:
    """What the receivers Secret holds: the secret values of the listed kinds only."""
    data: dict[str, str] = {}
    kinds = set(spec.alert_receivers)
    if "slack" in kinds:
        data[SLACK_WEBHOOK_KEY] = revealed(spec.alert_slack_webhook_url)
    if "pagerduty" in kinds:
        data[PAGERDUTY_ROUTING_KEY] = revealed(spec.alert_pagerduty_routing_key)
    if "email" in kinds and revealed(spec.alert_email_smtp_password):
        data[SMTP_PASSWORD_KEY] = revealed(spec.alert_email_smtp_password)
    return data


def _receiver(kind: str, spec: AlertingSpec, environment: str) -> dict[str, Any]:
    if kind == "slack":
        return {
            "name": "slack",
            "slack_configs": [
                {
                    "api_url_file": f"{SECRETS_DIR}/{SLACK_WEBHOOK_KEY}",
                    "channel": spec.alert_slack_channel,
                    "send_resolved": True,
                    "title": f"[{environment}] " + "{{ .CommonLabels.alertname }}",
                }
            ],
        }
    if kind == "pagerduty":
        return {
            "name": "pagerduty",
            "pagerduty_configs": [
                {
                    "routing_key_file": f"{SECRETS_DIR}/{PAGERDUTY_ROUTING_KEY}",
                    "send_resolved": True,
                    "severity": '{{ if eq .CommonLabels.severity "critical" }}critical'
                    "{{ else }}warning{{ end }}",
                }
            ],
        }
    email: dict[str, Any] = {
        "to": ", ".join(spec.alert_email_to),
        "from": spec.alert_email_from,
        "smarthost": spec.alert_email_smarthost,
        "require_tls": True,
        "send_resolved": True,
    }
    if spec.alert_email_smtp_username:
        email["auth_username"] = spec.alert_email_smtp_username
        email["auth_password_file"] = f"{SECRETS_DIR}/{SMTP_PASSWORD_KEY}"
    return {"name": "email", "email_configs": [email]}


def alertmanager_config(spec: AlertingSpec, environment: str) -> dict[str, Any]:
    """The `alertmanager.config` value: receivers, a default route and inhibitions.

    The first listed receiver is the default route; critical alerts also go
    to every other one. Watchdog (the always-firing heartbeat) goes nowhere
    by default. With no receiver, everything goes to `null`: Prometheus still
    evaluates and Grafana still shows the alerts.
    """
    kinds = list(spec.alert_receivers)
    receivers = [{"name": "null"}] + [_receiver(kind, spec, environment) for kind in kinds]
    routes: list[dict[str, Any]] = [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}]
    if len(kinds) > 1:
        # A child route that matches takes the alert from the default route,
        # so the first receiver is listed again for critical alerts.
        routes += [
            {"receiver": kind, "matchers": ['severity = "critical"'], "continue": True}
            for kind in kinds
        ]
    return {
        "global": {"resolve_timeout": "5m"},
        "inhibit_rules": INHIBIT_RULES,
        "route": {
            "receiver": kinds[0] if kinds else "null",
            "group_by": ["namespace", "alertname"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h" if "pagerduty" in kinds else "12h",
            "routes": routes,
        },
        "receivers": receivers,
        "templates": ["/etc/alertmanager/config/*.tmpl"],
    }
