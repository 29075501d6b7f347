"""Street addresses in central Helsinki (inside the extract's road network) and elsewhere."""

from __future__ import annotations

Point = tuple[float, float]

# Each within about 50 m of a drivable street of the extract.
CENTRAL_STATION: Point = (24.9414, 60.1710)
ESPLANADI: Point = (24.9480, 60.1677)
KAUPPATORI: Point = (24.9525, 60.1675)
ATENEUM: Point = (24.9441, 60.1703)
KIASMA: Point = (24.9370, 60.1718)
EROTTAJA: Point = (24.9438, 60.1660)
SENATE_SQUARE: Point = (24.9522, 60.1695)
HELSINKI = [ESPLANADI, KAUPPATORI, ATENEUM, KIASMA, EROTTAJA, SENATE_SQUARE]

# Far outside the extract: Paris, where the Helsinki dataset has no roads at all.
PARIS: list[Point] = [(2.3522, 48.8566), (2.3700, 48.8600), (2.3400, 48.8700)]
