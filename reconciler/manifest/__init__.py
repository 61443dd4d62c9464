"""The manifest: the YAML file (or directory) in git that says which accounts must be members.

This is the first step of the pipeline and the only one that reads user input, so it is the
one that must refuse bad input completely, with one clear line, before any AWS call:

* :func:`load_manifest` reads and validates a file or a directory of files into a
  :class:`Manifest` (raising :class:`~reconciler.errors.ManifestError` only);
* :func:`expand` turns a Manifest, the ``--service``/``--region`` filters and the accounts read
  from AWS Organizations into the :class:`~reconciler.model.DesiredState` the differ consumes.

The package is pure: it never imports boto3, botocore or :mod:`reconciler.aws` (an
import-linter contract holds that line); the region catalog is passed in. Its modules, in the
order data flows through them: ``yamlio`` (bytes → plain data, safely), ``csvimport``,
``models`` (the pydantic schema), ``loading`` (files → validated document), ``checks``
(cross-field rules → Manifest), ``values`` (the Manifest types), ``expansion``.
"""

from reconciler.manifest.expansion import expand
from reconciler.manifest.loading import load_manifest
from reconciler.manifest.values import Manifest, ManifestMember, OrganizationSource
from reconciler.manifest.yamlio import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "Manifest",
    "ManifestMember",
    "OrganizationSource",
    "expand",
    "load_manifest",
]
