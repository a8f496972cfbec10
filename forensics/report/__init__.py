"""Reports: what analysts read: the text view, exports, charts and incident reports."""

#: The charts (``forensics.report.charts``), by name: the first is drawn for each finding, the
#: others once per report; ``forensics chart --kind`` offers them all.
CHARTS = ("swimlane", "migration", "skew", "amounts")
