"""Group metrics of the node group's Auto Scaling group, turned on.

EKS managed node groups create their Auto Scaling group with metrics
collection off, and neither the EKS API nor the provider has a switch for it
("Amazon EKS doesn't automatically enable group metrics collection for ASGs
created for managed nodes"; aws/containers-roadmap#762). Without
GroupInServiceInstances and GroupMinSize there is nothing for the
nodes-below-minimum alarm to watch, so this resource calls
EnableMetricsCollection on the group (and again on the new group when the
node group is replaced). The metrics are free.
https://docs.aws.amazon.com/eks/latest/userguide/enable-asg-metrics.html

A dynamic provider: it runs during `pulumi up` in a process of its own, with
the credentials `pulumi up` runs with, through botocore (already a
dependency), and refuses to act in any account but the stack's. Pulumi
pickles the provider into the state; it is self-contained (every import
inside its methods, its class pickled by value) so that process can load it
without importing this repository.
"""

from __future__ import annotations

from types import CodeType
from typing import Any

import pulumi
from pulumi import dynamic

# What the nodes-below-minimum alarm reads.
METRICS = ("GroupInServiceInstances", "GroupMinSize")
PICKLED_FILENAME = "stagecraft:infra/components/observability/asg_metrics.py"


class _Provider(dynamic.ResourceProvider):
    @staticmethod
    def client(props: dict[str, Any]) -> Any:
        import botocore.session

        session = botocore.session.get_session()
        sts: Any = session.create_client("sts", region_name=props["region"])
        account = sts.get_caller_identity()["Account"]
        if account != props["accountId"]:
            raise RuntimeError(
                f"refusing to change Auto Scaling group {props['autoScalingGroupName']}: the "
                f"credentials are account {account}'s, the stack's is {props['accountId']}"
            )
        return session.create_client("autoscaling", region_name=props["region"])

    @staticmethod
    def enable(props: dict[str, Any]) -> None:
        _Provider.client(props).enable_metrics_collection(
            AutoScalingGroupName=props["autoScalingGroupName"],
            Granularity="1Minute",
            Metrics=list(props["metrics"]),
        )

    @staticmethod
    def disable(props: dict[str, Any], metrics: list[str] | None = None) -> None:
        """Off again (``metrics``: only these); a group already gone is fine."""
        from botocore.exceptions import ClientError

        try:
            _Provider.client(props).disable_metrics_collection(
                AutoScalingGroupName=props["autoScalingGroupName"],
                Metrics=list(props["metrics"] if metrics is None else metrics),
            )
        except ClientError as error:
            message = str(error.response.get("Error", {}).get("Message", ""))
            if "not found" not in message.lower():
                raise

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        _Provider.enable(props)
        return dynamic.CreateResult(id_=props["autoScalingGroupName"], outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        keys = ("autoScalingGroupName", "metrics", "region", "accountId")
        changed = [k for k in keys if olds.get(k) != news.get(k)]
        # Another group (the node group was replaced) is another resource.
        replaces = [k for k in changed if k in ("autoScalingGroupName", "region", "accountId")]
        return dynamic.DiffResult(
            changes=bool(changed), replaces=replaces, delete_before_replace=False
        )

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        dropped = [m for m in olds.get("metrics") or [] if m not in news["metrics"]]
        if dropped:
            _Provider.disable(news, dropped)
        _Provider.enable(news)
        return dynamic.UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        _Provider.disable(props)


def _pickled_by_value(cls: type) -> type:
    """Make dill pickle ``cls`` and its methods by value.

    dill pickles a class or function of an importable module by reference
    (module and name), which the provider's process could load only with this
    repository on its path; one of `__main__` it pickles by value.
    """
    for member in vars(cls).values():
        function = getattr(member, "__func__", member)
        if callable(function) and hasattr(function, "__code__"):
            function.__module__ = "__main__"
            function.__code__ = _anywhere(function.__code__)
    cls.__module__ = "__main__"
    return cls


def _anywhere(code: CodeType) -> CodeType:
    """``code`` without the checkout's path in it: the pickle, and so the state, is the
    same from every clone (a path would show as a change on every other machine)."""
    constants = tuple(_anywhere(c) if isinstance(c, CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=PICKLED_FILENAME, co_consts=constants)


_pickled_by_value(_Provider)


class AsgMetricsCollection(dynamic.Resource):
    """EnableMetricsCollection on one Auto Scaling group (1-minute granularity)."""

    def __init__(
        self,
        name: str,
        *,
        autoscaling_group_name: pulumi.Input[str],
        region: str,
        account_id: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            _Provider(),
            name,
            {
                "autoScalingGroupName": autoscaling_group_name,
                "metrics": list(METRICS),
                "region": region,
                "accountId": account_id,
            },
            opts,
        )
