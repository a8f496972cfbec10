"""Reports: what analysts read: the text view, exports, charts and incident reports."""
