"""Reports: what analysts read: the text view, exports, charts and incident reports."""

#: The charts (``forensics.report.charts``), by name: the first is drawn for each finding, the
#: others once per report; ``forensics chart --kind`` offers them all.
CHARTS = ("swimlane", "migration", "skew", "amounts")

#: What each chart shows, in the words ``forensics chart --help`` uses.
CHART_HELP = {
    "swimlane": "each device's, the host's and settlement's lines on their own lane in clock-corrected UTC, "
    "zoomed on the incident with the whole span above; faulty transactions labelled, cited lines ringed",
    "migration": "the devices sharing a TID (a terminal swap): transactions per 30 min on each, the offline "
    "queue, release and initialisation, and what the released device still owed the host",
    "skew": "each terminal's clock minus the host's, per matched request and response (two bands, the network "
    "delay below and above the skew), and the estimate per clock segment",
    "amounts": "the amounts charged through the day, one panel per currency, refunds apart, the median sale; "
    "the findings' charges ringed",
}
