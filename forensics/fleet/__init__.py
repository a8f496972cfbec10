"""Fleets: many terminals' logs, the host logs and clearing files of an acquirer, analysed group by group.

``groups`` finds the connected groups of devices, TIDs and MIDs (every fact a finding needs lies in one
group: docs/fleet.md); ``analysis`` builds timelines and diagnoses one group at a time (what
``forensics diagnose`` does on any input); ``sweep`` runs the whole pipeline over folders of logs on a
Dask cluster into an output folder.
"""

from forensics.fleet.analysis import diagnose_by_group, timeline_by_group
from forensics.fleet.groups import connect, identifiers

__all__ = ["connect", "diagnose_by_group", "identifiers", "timeline_by_group"]
