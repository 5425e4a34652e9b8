"""One resolver for every setting: CLI flag > ``TABLOOP_*`` environment variable > tabloop.yaml > default.

``load_spec`` applies the environment over the file once (``apply_env_overrides``) and
pydantic fills the defaults, so a loaded :class:`Spec` already holds the last three
layers; :func:`setting` adds the flag on top. The facade asks for a setting here rather
than writing ``flag if flag is not None else spec.section.key`` in each function.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from tabloop.spec._io import ENV_ALIASES, ENV_PREFIX
from tabloop.spec._models import Spec


def setting(spec: Spec, key: str, flag: Any = None) -> Any:
    """The value of ``key`` (dotted, e.g. ``"train.budget_seconds"``): ``flag`` unless it is None, else the spec's.

    A command whose flag uses another "not given" value (0, an empty string) passes ``flag or None``.
    """
    if flag is not None:
        return flag
    node: Any = spec
    for part in key.split("."):
        if not isinstance(node, BaseModel) or part not in type(node).model_fields:
            raise KeyError(f"tabloop.yaml has no setting {key!r}")
        node = getattr(node, part)
    return node


def env_names(key: str) -> list[str]:
    """The environment variables that set ``key`` (dotted): ``TABLOOP_SECTION__KEY``, then any short alias.

    ``apply_env_overrides`` reads only names with ``__`` (or an alias): a top-level key has no long name.
    """
    aliases = [env for env, keys in ENV_ALIASES.items() if ".".join(keys) == key]
    return ([ENV_PREFIX + key.upper().replace(".", "__")] if "." in key else []) + aliases
