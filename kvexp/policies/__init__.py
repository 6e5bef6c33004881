"""Eviction policies: one module per policy, each a small class over one ordering structure.

Configs name a policy by its import path (``_target_: kvexp.policies.lru.LRU``), so adding a
policy is one module here plus one YAML file under ``conf/policy/``; nothing to register.
"""
