"""The runtime's pins: every distribution tabloop needs at run time, at the version installed here.

An image must unpickle the model with the libraries that trained it: the versions of this
environment, which also ran the model's tests, not whatever a resolver picks on the day the
image is built. The closure is walked from tabloop's own requirements (with the extras each
one names), with markers evaluated for this interpreter and platform, which is why the
image's base is this interpreter's version.
"""

from __future__ import annotations

import importlib.metadata as metadata
import platform
import sys
from collections import deque

from packaging.markers import UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from tabloop.errors import PackagingError


def runtime_pins(distribution: str = "tabloop") -> dict[str, str]:
    """``{name: version}`` of every installed distribution ``distribution`` needs at run time, itself excluded."""
    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError as exc:
        raise PackagingError(f"{distribution} is not installed as a distribution, so its requirements are unknown",
                             hint="install it (pip install -e . in a checkout) and run again") from exc
    pins: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    queue: deque[tuple[str, frozenset[str]]] = deque([(distribution, frozenset())])
    while queue:
        name, extras = queue.popleft()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError as exc:
            raise PackagingError(f"{name} is required at run time but not installed here",
                                 hint="install tabloop's dependencies (pip install -r requirements.lock)") from exc
        key = canonicalize_name(dist.metadata["Name"])
        if key != canonicalize_name(distribution):
            pins[key] = dist.version
        for text in dist.requires or []:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue  # a malformed line in someone's metadata: pip ignores it as well
            if req.marker is not None and not _applies(req, extras):
                continue
            queue.append((canonicalize_name(req.name), frozenset(req.extras)))
    return dict(sorted(pins.items()))


def _applies(req: Requirement, extras: frozenset[str]) -> bool:
    assert req.marker is not None
    try:
        return any(req.marker.evaluate({"extra": e}) for e in (extras or {""}))
    except UndefinedEnvironmentName:
        return False


def lock_text(pins: dict[str, str]) -> str:
    """A requirements file of ``pins``, saying where they come from."""
    head = (
        "# Written by `tabloop package`: the versions installed where the model was packaged\n"
        f"# (Python {platform.python_version()}, {sys.platform}), every runtime dependency of tabloop.\n"
        "# The image installs exactly these, so it unpickles the model with the libraries that tested it.\n"
    )
    return head + "".join(f"{name}=={version}\n" for name, version in pins.items())
