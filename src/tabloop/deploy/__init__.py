"""Deployment (layer 14): the build context ``tabloop package`` writes for a model version.

``render(Deployment(...))`` gives the text of the Dockerfile, the Kubernetes and KServe manifests,
the CI workflow and the README from the templates in ``templates/``; ``build_wheel`` makes
tabloop's wheel from the running code, and ``runtime_pins`` with ``lock_text`` the requirements
file the image installs. It writes no files of its own; ``tabloop.api.package`` puts them together.
"""

from typing import TYPE_CHECKING

from tabloop._lazy import exports

# imported on first use (see tabloop._lazy): a command pays only for the libraries it needs
if TYPE_CHECKING:
    from tabloop.deploy._lock import lock_text, runtime_pins
    from tabloop.deploy._render import BAKED, PORT, PROJECT_DIR, PULL, UID, Deployment, k8s_name, render
    from tabloop.deploy._wheel import build_wheel, wheel_name

__getattr__, __dir__ = exports(__name__, __file__)

__all__ = [
    "BAKED",
    "PORT",
    "PROJECT_DIR",
    "PULL",
    "UID",
    "Deployment",
    "build_wheel",
    "k8s_name",
    "lock_text",
    "render",
    "runtime_pins",
    "wheel_name",
]
