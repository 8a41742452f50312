"""MATLAB values decoded by DataJoint -> nested Python dicts / lists / scalars (spec §2.19).

Rules:

* struct 1×1 -> ``dict``; any other struct array -> ``list`` of dicts (MATLAB's column-major
  element order); a struct with no fields -> ``None``; nested structs recursively;
* char row -> ``str``; char matrix with several rows -> ``list`` of row strings;
* numeric / logical array with one element -> Python scalar (``float``, ``bool``, ``int``);
  otherwise a numpy array with singleton dimensions squeezed out (1×N -> N; 0×2 stays 0×2);
* cell array -> ``list`` of converted elements (a 1×1 cell -> its element).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import datajoint.blob as dj_blob
import numpy as np


class UnexpectedShapeError(ValueError):
    """A legacy blob decoded, but not to the value the target table expects."""


def _struct_to_python(array: np.ndarray) -> dict[str, Any] | list[dict[str, Any]]:
    names = array.dtype.names
    elements = [
        {name: matlab_to_python(element[name]) for name in names}
        for element in np.asarray(array).flatten(order="F")
    ]
    return elements[0] if array.size == 1 else elements


def _char_to_python(array: np.ndarray) -> str | list[str]:
    if array.ndim <= 1 or array.size == 0:
        return "".join(str(c) for c in array.reshape(-1))
    if array.ndim == 2 and array.shape[0] == 1:
        return "".join(str(c) for c in array[0])
    if array.ndim == 2:
        return ["".join(str(c) for c in row) for row in array]
    raise UnexpectedShapeError(f"char array with {array.ndim} dimensions {array.shape}")


def matlab_to_python(value: Any) -> Any:
    """Convert a decoded MATLAB value to nested Python dicts / lists / scalars (spec §2.19).

    The rules are in this module's docstring. Raises :class:`UnexpectedShapeError` for values
    it cannot represent.
    """
    if isinstance(value, np.ndarray):
        if value.dtype.names is not None:
            return _struct_to_python(value)
        if isinstance(value, dj_blob.MatCell) or value.dtype == object:
            if value.shape == () and value.item() is None:
                return None  # DataJoint's reading of a struct with no fields
            items = [matlab_to_python(v) for v in np.asarray(value).flatten(order="F")]
            return items[0] if len(items) == 1 else items
        if value.dtype.kind == "U":
            return _char_to_python(value)
        if value.dtype.kind in "biufc":
            if value.size == 1:
                return value.reshape(()).item()
            return np.squeeze(np.asarray(value))
        raise UnexpectedShapeError(f"array of dtype {value.dtype}")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {k: matlab_to_python(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [matlab_to_python(v) for v in value]
    if value is None or isinstance(value, str | bytes | bool | int | float | complex):
        return value
    raise UnexpectedShapeError(f"value of type {type(value).__name__}")
