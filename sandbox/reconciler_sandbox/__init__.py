"""A local AWS-compatible endpoint for the member APIs of AWS security services.

The sandbox speaks the real wire protocols (routed, decoded and validated by botocore's own
service models), so an unmodified boto3 client, the AWS CLI or any script pointed at it with
``endpoint_url`` behaves as it would against AWS, failures included: it is what a newcomer
runs first, what end-to-end tests run against, and what benchmarks measure at scale.

Embedded use::

    from reconciler_sandbox import Sandbox, SandboxOptions, SandboxState

    with Sandbox(SandboxState.load("manifests/sandbox-state.yaml")) as sb:
        client = boto3.client(service, endpoint_url=sb.endpoint_url, region_name="eu-west-1",
                              aws_access_key_id=sb.credentials[0],
                              aws_secret_access_key=sb.credentials[1])

The services served are the plug-ins listed by :mod:`reconciler_sandbox.services`.
``reconcile-sandbox`` (:mod:`reconciler_sandbox.cli`) serves the same from the command line.
"""

from reconciler_sandbox.server import Sandbox, SandboxOptions
from reconciler_sandbox.state import SandboxState, SandboxStateError

__all__ = ["Sandbox", "SandboxOptions", "SandboxState", "SandboxStateError"]
