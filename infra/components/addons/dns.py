"""The environment's public DNS zone and its certificate.

A hosted zone named after the environment's domain, delegated from the
parent zone when one is configured, and a DNS-validated ACM certificate
for the apex and `*.<domain>` (the application, and each pr-<n>/dev-<name>
hostname on this cluster). ACM renews DNS-validated certificates by itself
while the validation record stays (Security Hub ACM.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components._common import child, type_token

# The TTL AWS gives a new zone's own NS record; a delegation that changes
# rarely and should be cached long.
DELEGATION_TTL = 172800
VALIDATION_TTL = 300


@dataclass(frozen=True)
class DnsZoneArgs:
    domain: str
    parent_zone_id: str  # empty: delegated by hand from the nameServers output
    resource_prefix: str
    # A zone's loss changes its name servers: every delegation breaks.
    protect: bool


class DnsZone(pulumi.ComponentResource):
    """Zone, optional delegation, certificate and its validation."""

    zone: aws.route53.Zone
    certificate_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: DnsZoneArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("DnsZone"), name, None, opts)
        domain = args.domain
        self.zone = aws.route53.Zone(
            f"{name}-zone",
            name=domain,
            comment=f"{args.resource_prefix}: managed by Pulumi; records by external-dns",
            # Records external-dns wrote would otherwise block the zone's deletion;
            # a zone is deleted only with its environment.
            force_destroy=True,
            opts=child(self, protect=args.protect),
        )
        delegation: list[pulumi.Resource] = []
        if args.parent_zone_id:
            delegation.append(
                aws.route53.Record(
                    f"{name}-delegation",
                    zone_id=args.parent_zone_id,
                    name=domain,
                    type="NS",
                    ttl=DELEGATION_TTL,
                    records=self.zone.name_servers,
                    opts=child(self),
                )
            )
        certificate = aws.acm.Certificate(
            f"{name}-certificate",
            domain_name=domain,
            subject_alternative_names=[f"*.{domain}"],
            validation_method="DNS",
            key_algorithm="RSA_2048",
            options=aws.acm.CertificateOptionsArgs(
                certificate_transparency_logging_preference="ENABLED"
            ),
            # Replaced create-before-delete (Pulumi's default): the ALB keeps
            # the old certificate until the new one exists (Checkov CKV_AWS_233).
            opts=child(self),
        )
        # The apex and its wildcard share one validation record, so one
        # record validates both (ACM returns it twice).
        validation = certificate.domain_validation_options.apply(lambda options: options[0])
        record = aws.route53.Record(
            f"{name}-certificate-validation",
            zone_id=self.zone.zone_id,
            name=validation.resource_record_name,
            type=validation.resource_record_type,
            records=[validation.resource_record_value],
            ttl=VALIDATION_TTL,
            allow_overwrite=True,
            opts=child(self),
        )
        validated = aws.acm.CertificateValidation(
            f"{name}-certificate-issued",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn],
            # ACM can resolve the record only once the parent delegates.
            opts=child(self, depends_on=delegation),
        )
        # Read through the validation, so nothing uses the certificate before
        # ACM has issued it.
        self.certificate_arn = validated.certificate_arn
        self.register_outputs(
            {
                "zoneId": self.zone.zone_id,
                "nameServers": self.zone.name_servers,
                "certificateArn": self.certificate_arn,
            }
        )
