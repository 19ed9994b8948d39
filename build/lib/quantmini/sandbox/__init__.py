"""A Polygon/Massive-compatible sandbox on loopback: flat files over a real S3-protocol server
(moto in server mode) and the REST API over HTTP, fed by a deterministic synthetic market
plus the real recorded responses in ``shared/fixtures/polygon`` when that folder is present."""
