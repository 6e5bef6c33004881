"""Workloads: functions that turn a few parameters into a ``kvexp.trace.Trace``.

A config names a workload by the import path of its function (``_target_:
kvexp.workloads.synthetic.rag_burst``) plus keyword arguments; there is no registry to keep
in step with the modules. ``synthetic`` holds the seeded generators, ``pagetable`` the page
metadata they share.
"""
