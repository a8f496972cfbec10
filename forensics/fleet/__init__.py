"""Fleets: many terminals' logs, the host logs and clearing files of an acquirer, analysed group by group."""
