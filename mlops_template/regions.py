"""Which AWS regions offer SageMaker, asked of botocore's endpoint data rather than a fixed list."""

from __future__ import annotations

import difflib
import functools
import re

# Used only without botocore; wide enough for every partition's names (e.g. eusc-de-east-1).
REGION_SYNTAX = re.compile(r"[a-z]{2,4}(-[a-z]+)+-\d+", re.ASCII)


@functools.cache
def sagemaker_regions() -> frozenset[str] | None:
    """Every region, in every partition, where botocore knows SageMaker; None without botocore."""
    try:
        import botocore.session
    except ImportError:
        return None
    session = botocore.session.Session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("sagemaker", partition_name=partition)
    )


def closest_regions(name: str, known: frozenset[str], count: int = 3) -> list[str]:
    """The known region names most similar to ``name``, best first."""
    return difflib.get_close_matches(name.lower(), sorted(known), n=count, cutoff=0.5)
