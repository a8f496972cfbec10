"""Fleets: many terminals' logs, the host logs and clearing files of an acquirer, swept on Dask.

``sweep`` discovers the files of folders of logs, finds each file's role, routes them into the connected
groups of devices, TIDs and MIDs (``forensics.analysis.groups``: every fact a finding needs lies in one
group, docs/fleet.md), diagnoses the groups on a Dask cluster into an output folder and writes the fleet
summary (``summary``); ``read`` scans that folder. The group-by-group work itself is
``forensics.analysis``, the engine every single-case command runs through as well.
"""
