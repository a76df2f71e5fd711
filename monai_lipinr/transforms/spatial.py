"""World (LPS mm) <-> network coordinate transforms on point sets ``(N, D)``.

Thin transform wrappers around :class:`~monai_lipinr.budget.NetworkCoordinates` (the one isotropic map
``x̃ = (x - c) / s`` of DESIGN.md §2); the arithmetic lives there. With ``vectors=True`` the input is a set of
displacement vectors (only scaled by ``1/s`` or ``s``, no centre).
"""

from __future__ import annotations

from monai.config import KeysCollection
from monai.transforms import Transform
from monai.utils import TransformBackends

from monai_lipinr.budget.coordinates import NetworkCoordinates
from monai_lipinr.transforms.utils import OutputKeyMapTransform, check_coordinates

__all__ = ["WorldToNetwork", "WorldToNetworkd", "NetworkToWorld", "NetworkToWorldd"]


class _CoordinateMap(Transform):
    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]
    _to_network = True

    def __init__(self, coordinates: NetworkCoordinates, vectors: bool = False):
        if coordinates is None:
            raise TypeError(
                "coordinates must be a NetworkCoordinates (build it from the fixed image), got None."
            )
        self.coordinates = check_coordinates(coordinates)
        self.vectors = bool(vectors)

    def __call__(self, points):
        nc = self.coordinates
        if self._to_network:
            return nc.displacement_to_network(points) if self.vectors else nc.world_to_network(points)
        return nc.displacement_to_world(points) if self.vectors else nc.network_to_world(points)


class WorldToNetwork(_CoordinateMap):
    """World points ``(N, D)`` in LPS mm -> network coordinates ``(N, D)`` (torch or numpy; type kept).

    Args:
        coordinates: the map of the fixed image.
        vectors: treat the input as displacement vectors in mm (divide by ``s`` only).

    Raises:
        ValueError: (on call) for a wrong shape / ``spatial_dims`` or NaN coordinates.
    """

    _to_network = True


class NetworkToWorld(_CoordinateMap):
    """Network coordinates ``(N, D)`` -> world points ``(N, D)`` in LPS mm (``vectors=True``: multiply by ``s``).

    Args:
        coordinates: the map of the fixed image.
        vectors: treat the input as displacement vectors in network units.
    """

    _to_network = False


class _CoordinateMapd(OutputKeyMapTransform):
    _array_cls: type = _CoordinateMap

    def __init__(
        self,
        keys: KeysCollection,
        coordinates: NetworkCoordinates,
        vectors: bool = False,
        output_keys: KeysCollection | None = None,
        allow_missing_keys: bool = False,
    ):
        super().__init__(keys, self._array_cls(coordinates, vectors), output_keys, "", allow_missing_keys)


class WorldToNetworkd(_CoordinateMapd):
    """Dictionary version of :class:`WorldToNetwork` (in place unless ``output_keys``)."""

    backend = WorldToNetwork.backend
    _array_cls = WorldToNetwork


class NetworkToWorldd(_CoordinateMapd):
    """Dictionary version of :class:`NetworkToWorld` (in place unless ``output_keys``)."""

    backend = NetworkToWorld.backend
    _array_cls = NetworkToWorld
