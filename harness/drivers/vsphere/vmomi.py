"""pyVmomi's namespaces, untyped on purpose.

pyVmomi's stubs declare data-object constructors untyped and every property Optional, which
strict mypy cannot work with. The driver treats pyVmomi objects as `Any` at this one boundary
and turns them into typed facts (facts.py) right away.
"""

from typing import Any

from pyVmomi import SoapAdapter, VmomiSupport
from pyVmomi import vim as _vim
from pyVmomi import vmodl as _vmodl

vim: Any = _vim
vmodl: Any = _vmodl
SoapStubAdapter: Any = SoapAdapter.SoapStubAdapter
GetServiceVersions: Any = VmomiSupport.GetServiceVersions
GetWsdlType: Any = VmomiSupport.GetWsdlType
versionIdMap: dict[str, str] = VmomiSupport.versionIdMap
