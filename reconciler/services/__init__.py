"""The member services, as plug-ins: one module per service, one registry (pure).

Each service module (one per service, named after its boto3 client) declares everything that
differs between services in one :class:`~reconciler.services.spec.ServiceSpec` (``SPEC``), with
its manifest settings models, its operations and the few behaviours that are code (the
administrator-side probe, the member-side accept) as plain functions over a tiny call protocol.
:mod:`reconciler.services.registry` lists them. Nothing here imports boto3 or botocore, so the
manifest, the differ and the planner read the specs directly; ``reconciler.aws`` implements the
call protocol over botocore.
"""
