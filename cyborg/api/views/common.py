"""Formatting shared by the views."""

import datetime


def timestamp(value: datetime.datetime | None) -> str | None:
    """ISO 8601 with an explicit UTC offset, as upstream renders times."""
    if value is None:
        return None
    return value.replace(tzinfo=datetime.UTC).isoformat()
