"""A boto3 session that remembers where its region came from."""

from __future__ import annotations

import boto3
import botocore.session


class RegionalSession(boto3.Session):
    """The CLI's session (``cli.session``): the region and where it came from (--region, the
    settings, the environment), said beside the deployed rule a command reads, because IAM is
    global but the rule and its exemptions are regional."""

    def __init__(self, core: botocore.session.Session, region: str, region_source: str) -> None:
        super().__init__(botocore_session=core, region_name=region)
        self.region_source = region_source
