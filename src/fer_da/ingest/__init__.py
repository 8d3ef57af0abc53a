"""Reading face-expression datasets from their native layouts."""

from fer_da.ingest.core import DomainSpec, IngestResult, ingest_domain, parse_domain_specs
from fer_da.ingest.tree import RawTree

__all__ = ["DomainSpec", "IngestResult", "RawTree", "ingest_domain", "parse_domain_specs"]
